"""The planners' file (wavedil/native/plans.py): entries stored per CPU and build, and a file
that cannot be read, another CPU's file or another build's entry ignored with one warning."""

import json
import statistics
import warnings

import pytest

from wavedil.native import build as cbuild
from wavedil.native.plans import FILE_FORMAT, PlanCache, PlanCacheWarning, build_id, relative_rates


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
