"""The planners' file (wavedil/native/plans.py): entries stored per CPU and build, and a file
that cannot be read, another CPU's file or another build's entry ignored with one warning."""

import json
import statistics
import warnings

import pytest

from wavedil.native import build as cbuild
from wavedil.native.plans import (FILE_FORMAT, PlanCache, PlanCacheWarning, build_id,
                                  relative_rates, stored_or_measured, summary)


def _get(cache: PlanCache, key: str, build: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        entry = cache.get(key, build)
    return entry, [str(w.message) for w in caught if issubclass(w.category, PlanCacheWarning)]


def test_entries_round_trip_and_keep_each_other(tmp_path):
    cache = PlanCache(tmp_path / "sub" / "plans.json")
    assert _get(cache, "wavenet: a", "b1") == (None, [])  # no file: no warning
    cache.put("wavenet: a", "b1", {"threads": 1})
    cache.put("effect: c", "b2", {"route": "narrow"})
    assert _get(cache, "wavenet: a", "b1") == ({"build": "b1", "threads": 1}, [])
    assert _get(cache, "effect: c", "b2")[0]["route"] == "narrow"
    data = json.loads(cache.path.read_text())
    assert data["format"] == FILE_FORMAT and data["cpu"] == cbuild.cpu_model()
    assert sorted(cache.entries()) == ["effect: c", "wavenet: a"]
    assert list(cache.path.parent.iterdir()) == [cache.path]  # no temporary file left


@pytest.mark.parametrize("content,why", [
    ("{not json", "is unreadable"),
    ('["a list"]', "is unreadable"),
    (json.dumps({"format": "wavedil engine plans 1", "cpu": "x", "plans": {}}),
     "another format"),
    (json.dumps({"format": FILE_FORMAT, "cpu": "a CPU from elsewhere", "plans": {"k": {}}}),
     "on another CPU (a CPU from elsewhere)")])
def test_a_file_it_cannot_use_is_ignored_with_one_warning_then_replaced(tmp_path, content, why):
    cache = PlanCache(tmp_path / "plans.json")
    cache.path.write_text(content)
    entry, warned = _get(cache, "k", "b")
    assert entry is None and len(warned) == 1 and why in warned[0], warned
    assert str(cache.path) in warned[0]
    cache.put("k", "b", {"x": 1})
    assert _get(cache, "k", "b") == ({"build": "b", "x": 1}, [])


def test_an_entry_of_another_build_is_ignored_with_one_warning(tmp_path):
    cache = PlanCache(tmp_path / "plans.json")
    cache.put("k", "old", {"x": 1})
    entry, warned = _get(cache, "k", "new")
    assert entry is None and len(warned) == 1 and "another build" in warned[0]


def test_the_build_id_follows_the_sources(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1")
    b.write_text("x = 2")
    assert build_id("k", a) == build_id("k", a) != build_id("k", b) != build_id("j", b)
    assert len(build_id("k", a)) == 16


def test_rates_are_compared_round_by_round():
    """A machine whose speed drifts moves every choice of a round alike: a choice slower in
    most rounds stays slower, where the medians of the raw rates would put it first."""
    a, b = "shared", "one"
    rates = {a: [100.0, 50.0, 50.0, 50.0, 50.0], b: [90.0, 90.0, 90.0, 45.0, 45.0]}
    assert statistics.median(rates[b]) > statistics.median(rates[a])
    rel = relative_rates(rates, a)
    assert rel[a] == 50.0 and rel[b] == pytest.approx(45.0)


def test_one_flow_stores_a_measurement_then_reads_it_back(tmp_path):
    cache = PlanCache(tmp_path / "plans.json")
    calls = []

    def measure():
        calls.append(1)
        return "b", {"pick": "b", "choice": "option b", "rates": {"a": 1.0, "b": 2.0}}

    def read(entry):
        return entry.get("pick") if entry.get("pick") in ("a", "b") else None

    assert stored_or_measured("cached", cache, "k", "v1", read, measure) == (None, None,
                                                                            "nothing cached")
    chosen, entry, how = stored_or_measured("auto", cache, "k", "v1", read, measure)
    assert (chosen, how, len(calls)) == ("b", "measured", 1) and entry["measured"]
    chosen, entry, how = stored_or_measured("auto", cache, "k", "v1", read, measure)
    assert (chosen, how, len(calls)) == ("b", "cached", 1)
    assert summary(entry).startswith("option b: 2 samples/s at best, measured ")
    assert stored_or_measured("measure", cache, "k", "v1", read, measure)[2] == "measured"
    assert len(calls) == 2
    cache.put("k", "v1", {"pick": "gone"})  # an entry that no longer fits: measured again
    assert stored_or_measured("auto", cache, "k", "v1", read, measure)[0] == "b"
    assert len(calls) == 3
    with pytest.raises(ValueError, match="plan must be one of auto, measure, cached"):
        stored_or_measured("fixed", cache, "k", "v1", read, measure)
