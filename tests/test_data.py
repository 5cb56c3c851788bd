import hashlib
import json
import math
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wavedil.dsp.audio import LogMel, mulaw_encode
from wavedil.data import (TIMBRES, DataConfig, FixedCrops, RandomCrops, clean_clip, discover,
                          load_clip, make_corpus, midi_to_hz, prepare, split)
from wavedil.data import dataset as dataset_module
from wavedil.data import files as files_module
from wavedil.data.files import min_clip_samples

SR = 16000
TINY = dict(sample_rate=SR, hop_length=64, n_mels=16, crop=512, validation_fraction=0.25)


def tone(seconds=0.25, f0=440.0, sr=SR, channels=1, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * f0 * t)
    return np.repeat(y[:, None], channels, axis=1) if channels > 1 else y


def estimate_f0(y, sr, lo_hz=60.0, hi_hz=1000.0):
    """Autocorrelation pitch: the first strong peak, refined by a parabola."""
    y = y - y.mean()
    r = np.correlate(y, y, "full")[len(y) - 1:] / (len(y) - np.arange(len(y)))
    lo, hi = int(sr / hi_hz), int(sr / lo_hz)
    seg = r[lo:hi]
    for i in range(1, len(seg) - 1):
        if seg[i] >= 0.8 * seg.max() and seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1]:
            a, b, c = seg[i - 1], seg[i], seg[i + 1]
            return sr / (lo + i + 0.5 * (a - c) / (a - 2 * b + c))
    raise AssertionError("no pitch found")


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("sample_rate", 0), ("trim_db", -1.0), ("peak", 1.5), ("n_mels", 0), ("n_mels", 10_000),
    ("hop_length", 0), ("n_fft", 16), ("crop", 0), ("validation_fraction", 1.0), ("seed", -1),
    ("normalise", "yes"), ("path", ""), ("corpus_timbres", 5), ("corpus_high", 40),
    ("corpus_high", 127), ("corpus_takes", 0), ("min_seconds", -1), ("f0", "yes"), ("f0", 1),
    ("f0_min", 0.0), ("f0_min", SR / 2), ("f0_max", SR / 2), ("f0_max", 40.0), ("f0_max", math.nan),
    ("onset_share", 1.5), ("onset_share", -0.1), ("onset_share", "half")])
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"DataConfig.{field} must be"):
        DataConfig(**{field: value})


def test_config_from_dict():
    assert DataConfig.from_dict({"crop": 100}).crop == 100
    assert DataConfig.from_dict(DataConfig().to_dict()) == DataConfig()
    with pytest.raises(ValueError, match=r"DataConfig.hop is unknown; allowed: .*hop_length"):
        DataConfig.from_dict({"hop": 3})
    with pytest.raises(ValueError, match=r"DataConfig.hop_lenght is unknown \(did you mean 'hop_length'\?\)"):
        DataConfig.from_dict({"hop_lenght": 3})
    with pytest.raises(ValueError, match=r"DataConfig.crop must be of type int, got '8000'"):
        DataConfig.from_dict({"crop": "8000"})


def test_feature_channels_count_the_f0_pair():
    assert DataConfig(n_mels=40).feature_channels == 40
    assert DataConfig(n_mels=40, f0=True).feature_channels == 42
    assert DataConfig(sample_rate=8000, f0=True, f0_min=60, f0_max=3999).f0_max == 3999


# -- embedded corpus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, make_corpus(root)


def test_corpus_has_the_advertised_notes_and_timbres(corpus):
    root, items = corpus
    assert len(items) == 24 * 4 * 2
    assert sorted({i.midi for i in items}) == list(range(48, 72))
    assert sorted({i.timbre for i in items}) == sorted(t.name for t in TIMBRES)
    for item in items:
        assert item.path == root / item.timbre / f"{item.midi:03d}_{item.take}.wav"
        assert item.f0 == pytest.approx(midi_to_hz(item.midi))
        info = sf.info(str(item.path))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert 0.5 <= info.duration <= 1.0
    manifest = json.loads((root / "corpus.json").read_text())
    assert {(d["path"], d["midi"], d["timbre"]) for d in manifest["items"]} == {
        (i.path.relative_to(root).as_posix(), i.midi, i.timbre) for i in items}
    assert sum(p.stat().st_size for p in root.rglob("*.wav")) < 6e6


def test_corpus_is_in_tune(corpus):
    _, items = corpus
    for item in items:
        if item.midi in (48, 59, 66, 71) and item.take == 0:
            y, sr = sf.read(str(item.path))
            f0 = estimate_f0(y[800:800 + 4096], sr)
            assert abs(12 * math.log2(f0 / item.f0)) < 0.5, (item, f0)


def test_corpus_timbres_differ(corpus):
    _, items = corpus
    y = {i.timbre: sf.read(str(i.path))[0] for i in items if i.midi == 60 and i.take == 0}
    decay = {t: np.abs(w[-2000:]).mean() / np.abs(w[:2000]).mean() for t, w in y.items()}
    assert decay["muted"] < decay["nylon"] < decay["steel"]  # t60 0.4 < 1.2 < 2.5 s


def test_corpus_is_deterministic_and_not_regenerated(tmp_path):
    kw = dict(low=60, high=62, timbres=4, takes=2)
    a = make_corpus(tmp_path / "a", **kw)
    make_corpus(tmp_path / "b", **kw)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    stamp = {i.path: i.path.stat().st_mtime_ns for i in a}
    assert make_corpus(tmp_path / "a", **kw) == a
    assert {i.path: i.path.stat().st_mtime_ns for i in a} == stamp
    other = make_corpus(tmp_path / "a", low=60, high=60, timbres=1, takes=1)
    assert [i.path.name for i in other] == ["060_0.wav"]
    assert sorted(p.name for p in (tmp_path / "a").rglob("*.wav")) == ["060_0.wav"]


# -- discover -----------------------------------------------------------------------------------


def test_discover_folder_recursive_case_insensitive(tmp_path):
    for rel in ["b/x.WAV", "a/deep/y.flac", "a/z.Ogg", "c.wav", "notes.txt", "a/w.mp4"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == ["a/deep/y.flac", "a/z.Ogg", "b/x.WAV", "c.wav"]


def test_discover_manifests(tmp_path):
    (tmp_path / "m.txt").write_text("# a comment\n\nsub/a.wav\n  b.flac  \n/abs/c.wav\n")
    assert discover(tmp_path / "m.txt") == [tmp_path / "sub/a.wav", tmp_path / "b.flac",
                                            Path("/abs/c.wav")]
    (tmp_path / "h.csv").write_text("speaker,path\ns1,a.wav\ns2,b.wav\n")
    assert discover(tmp_path / "h.csv") == [tmp_path / "a.wav", tmp_path / "b.wav"]
    (tmp_path / "n.csv").write_text("a.wav,x\nb.wav,y\n")
    assert discover(tmp_path / "n.csv") == [tmp_path / "a.wav", tmp_path / "b.wav"]
    (tmp_path / "one.wav").write_bytes(b"")
    assert discover(tmp_path / "one.wav") == [tmp_path / "one.wav"]


def test_discover_errors_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as e:
        discover(tmp_path / "missing")
    assert "missing" in str(e.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no audio")
    with pytest.raises(ValueError, match="holds no audio files") as e:
        discover(tmp_path / "empty")
    assert "empty" in str(e.value)
    (tmp_path / "m.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="lists no files"):
        discover(tmp_path / "m.txt")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="not a folder"):
        discover(tmp_path / "x.json")


# -- the bad-audio zoo -------------------------------------------------------------------------


def write_zoo(root):
    """name -> None (must load) or a word its skip reason must contain."""
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "ok.wav", tone(), SR, subtype="PCM_16")
    (root / "empty.wav").write_bytes(b"")
    sf.write(root / "cut.wav", tone(), SR)
    (root / "cut.wav").write_bytes((root / "cut.wav").read_bytes()[:20])
    (root / "text.wav").write_text("this is not audio\n" * 10)
    nan = tone().astype(np.float32)
    nan[100] = np.nan
    sf.write(root / "nan.wav", nan, SR, subtype="FLOAT")
    inf = tone().astype(np.float32)
    inf[7] = -np.inf
    sf.write(root / "inf.wav", inf, SR, subtype="FLOAT")
    sf.write(root / "silence.wav", np.zeros(SR // 4), SR)
    sf.write(root / "eight.wav", tone(channels=8), SR)
    sf.write(root / "rate8k.wav", tone(sr=8000), 8000)
    sf.write(root / "rate96k.flac", tone(sr=96000), 96000)
    sf.write(root / "pcm24.wav", tone(), SR, subtype="PCM_24")
    sf.write(root / "pcm32.wav", tone(), SR, subtype="PCM_32")
    sf.write(root / "float.wav", tone() * 3, SR, subtype="FLOAT")  # beyond [-1, 1]
    sf.write(root / "tiny.wav", tone(seconds=0.002), SR)
    return {"ok.wav": None, "empty.wav": "empty", "cut.wav": "unreadable", "text.wav": "unreadable",
            "nan.wav": "1 NaN", "inf.wav": "1 inf", "silence.wav": "silent", "eight.wav": None,
            "rate8k.wav": None, "rate96k.flac": None, "pcm24.wav": None, "pcm32.wav": None,
            "float.wav": None, "tiny.wav": "too short"}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    return root, write_zoo(root)


@pytest.mark.parametrize("normalise", [True, False])
def test_zoo_each_file_loads_or_is_skipped_with_its_reason(zoo, normalise):
    root, expect = zoo
    cfg = DataConfig(**TINY, trim_db=0, normalise=normalise)
    for name, reason in expect.items():
        wave, why = load_clip(root / name, cfg)
        if reason is not None:
            assert wave is None and reason in why, (name, why)
            continue
        assert why is None and wave.dtype == np.float32 and wave.ndim == 1, name
        assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
        assert len(wave) == SR // 4, name  # every rate lands on 16 kHz
        spectrum = np.abs(np.fft.rfft(wave))
        assert np.argmax(spectrum) * SR / len(wave) == pytest.approx(440, abs=4), name
        if normalise:
            assert np.abs(wave).max() == pytest.approx(0.95, abs=2e-3)
    assert load_clip(root / "no-such.wav", cfg) == (None, "no such file")


def test_zoo_prepare_skips_with_warning_and_keeps_the_good(zoo, tmp_path, caplog):
    root, expect = zoo
    cfg = DataConfig(**TINY, path=str(root), cache_dir=str(tmp_path / "cache"))
    with pytest.warns(UserWarning, match=r"skipped 7 of 14 files"):
        data = prepare(cfg, receptive_field=100)
    good = sorted(n for n, r in expect.items() if r is None)
    assert sorted(Path(p).name for p in data.paths) == good
    reasons = {Path(p).name: r for p, r in data.skipped}
    assert reasons.keys() == {n for n, r in expect.items() if r is not None}
    assert all(expect[n] in r for n, r in reasons.items())
    assert "cut.wav" in caplog.text and "text.wav" in caplog.text


def test_read_clip_gives_the_file_rate_and_prepare_lists_the_resampled(zoo, tmp_path):
    import warnings

    from wavedil.data.files import read_clip

    root, expect = zoo
    cfg = DataConfig(**TINY, path=str(root), cache_dir=str(tmp_path / "cache"))
    assert read_clip(root / "rate96k.flac", cfg).rate == 96000
    assert read_clip(root / "ok.wav", cfg).rate == SR and read_clip(root / "cut.wav", cfg).rate is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quiet: the skipped files are the caller's to report
        data = prepare(cfg, receptive_field=100, quiet=True)
    assert data.resampled == [(str(root / "rate8k.wav"), 8000), (str(root / "rate96k.flac"), 96000)]
    assert {Path(p).name for p, _ in data.skipped} == {n for n, r in expect.items() if r is not None}
    # the rates are kept in the cache; a cache written before they were is read, rates unknown
    assert prepare(cfg, receptive_field=100, quiet=True).resampled == data.resampled
    stored = torch.load(data.cache_path, weights_only=True)
    del stored["rates"]
    torch.save(stored, data.cache_path)
    old = prepare(cfg, receptive_field=100, quiet=True)
    assert old.from_cache and old.resampled is None and old.paths == data.paths


def test_prepare_all_bad_raises(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    sf.write(tmp_path / "b.wav", np.zeros(4000), SR)
    cfg = DataConfig(**TINY, path=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"no usable audio .* all 2 files were skipped "
                                         r"\(a.wav: empty"):
        prepare(cfg)


def test_prepare_all_shorter_than_receptive_field_raises(tmp_path):
    sf.write(tmp_path / "a.wav", tone(seconds=0.05), SR)
    cfg = DataConfig(**TINY, path=str(tmp_path), cache_dir=str(tmp_path / "cache"), trim_db=0)
    with pytest.raises(ValueError, match=r"shorter than the receptive field \(2000 samples\); "
                                         r"the longest has 768"):
        prepare(cfg, receptive_field=2000)


def test_prepare_hop_mismatch_raises():
    with pytest.raises(ValueError, match="hop_length 256 differs .* hop_length 64"):
        prepare(DataConfig(**TINY), hop_length=256)


# -- prepare: cache, labels, split ------------------------------------------------------------


def speaker_folder(root, n_per=3):
    for s, speaker in enumerate(["bob", "alice", "carol"]):
        for k in range(n_per):
            path = root / speaker / ("sub" if k == 2 else "") / f"{k}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, tone(0.2 + 0.05 * k, 200 + 50 * s + 10 * k), SR)
    return root


def test_cache_second_run_reads_no_audio_and_settings_invalidate(tmp_path, monkeypatch):
    root = speaker_folder(tmp_path / "audio")
    cfg = DataConfig(**TINY, path=str(root), cache_dir=str(tmp_path / "cache"))
    first = prepare(cfg, receptive_field=200)
    assert not first.from_cache and first.cache_path.is_file()
    assert [p.name for p in first.cache_path.parent.iterdir()] == [first.cache_path.name]  # no tmp

    def refuse(*args, **kwargs):
        raise AssertionError("audio read although the cache is valid")

    monkeypatch.setattr(files_module, "read_clip", refuse)
    second = prepare(cfg, receptive_field=200)
    assert second.from_cache and second.paths == first.paths
    for name in ("audio", "quantised", "mel", "bounds", "speaker"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert torch.load(first.cache_path, weights_only=True)["paths"] == first.paths
    # the receptive field and split are not part of the cache
    assert prepare(DataConfig(**{**cfg.to_dict(), "seed": 5}), receptive_field=50).from_cache

    for change in ({"n_mels": 8}, {"trim_db": 20.0}, {"normalise": False}):
        with pytest.raises(AssertionError, match="audio read"):
            prepare(DataConfig(**{**cfg.to_dict(), **change}), receptive_field=200)
    with pytest.raises(AssertionError, match="audio read"):
        prepare(cfg, classes=16, receptive_field=200)
    sf.write(root / "bob" / "0.wav", tone(0.3), SR)  # an edited file
    with pytest.raises(AssertionError, match="audio read"):
        prepare(cfg, receptive_field=200)


def test_corrupt_cache_is_rebuilt(tmp_path):
    root = speaker_folder(tmp_path / "audio", n_per=1)
    cfg = DataConfig(**TINY, path=str(root), cache_dir=str(tmp_path / "cache"))
    first = prepare(cfg)
    first.cache_path.write_bytes(first.cache_path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring unreadable cache"):
        again = prepare(cfg)
    assert not again.from_cache and torch.equal(again.audio, first.audio)
    assert prepare(cfg).from_cache


def test_prepare_with_f0_appends_log_f0_and_voicing(tmp_path, monkeypatch):
    """Sines are voiced at their pitch, silence and noise unvoiced, never NaN; the mel bands are
    those of a run without f0; the frames are what DataConfig.frame_features makes; cached."""
    root = tmp_path / "audio"
    root.mkdir()
    rng = np.random.default_rng(0)
    sf.write(root / "a.wav", np.concatenate([tone(0.3, 220.0), np.zeros(int(0.2 * SR))]), SR)
    sf.write(root / "b.wav", tone(0.4, 160.0), SR)
    sf.write(root / "c.wav", 0.3 * rng.standard_normal(int(0.4 * SR)), SR)
    cfg = DataConfig(**{**TINY, "validation_fraction": 0.0}, path=str(root), trim_db=0,
                     cache_dir=str(tmp_path / "cache"), f0=True, f0_min=100.0, f0_max=400.0)
    data = prepare(cfg, receptive_field=100)
    plain = prepare(DataConfig(**{**cfg.to_dict(), "f0": False}), receptive_field=100)
    assert cfg.feature_channels == 18 and data.mel.shape == (18, plain.mel.shape[1])
    assert torch.equal(data.mel[:16], plain.mel) and torch.isfinite(data.mel).all()
    assert data.silence_mel.shape == (18,) and torch.equal(data.silence_mel[:16], plain.silence_mel)
    assert (data.silence_mel[16:] == 0).all()  # the frame of silence is unvoiced

    def pair(name):
        i = [Path(p).name for p in data.paths].index(name)
        a, b = (data.bounds[i] // 64).tolist()
        return data.mel[16, a:b], data.mel[17, a:b]  # log2(f0 / 150), voicing

    for name, hz, sine in (("a.wav", 220.0, slice(4, int(0.3 * SR) // 64 - 4)), ("b.wav", 160.0, slice(4, -4))):
        log_f0, voiced = pair(name)
        assert set(voiced.unique().tolist()) <= {0.0, 1.0}
        assert voiced[sine].mean() > 0.9, (name, voiced)
        f0 = 150.0 * 2.0 ** log_f0[sine][voiced[sine] == 1]
        assert ((f0 / hz - 1).abs() < 0.03).all(), (name, f0)
        assert (log_f0[voiced == 0] == 0).all()
    log_f0, voiced = pair("a.wav")
    assert (voiced[int(0.3 * SR) // 64 + 4:] == 0).all()  # the silence after the tone
    log_f0, voiced = pair("c.wav")
    assert voiced.mean() < 0.2 and (log_f0[voiced == 0] == 0).all()
    # one extractor: the stored frames of a clip are frame_features of its samples
    a, b = data.bounds[1].tolist()
    assert torch.equal(cfg.frame_features(data.audio[a:b]), data.mel[:, a // 64:b // 64])
    item = data.crop(1, data.start_range(1)[0])
    pad = int(item["pad"]) // 64
    assert item["mel"].shape == (18, data.frames) and pad > 0 and (item["mel"][16:, :pad] == 0).all()

    def refuse(*args, **kwargs):
        raise AssertionError("audio read although the cache is valid")

    monkeypatch.setattr(files_module, "read_clip", refuse)
    again = prepare(cfg, receptive_field=100)
    assert again.from_cache and torch.equal(again.mel, data.mel)
    for change in ({"f0_min": 80.0}, {"f0_max": 300.0}):
        with pytest.raises(AssertionError, match="audio read"):
            prepare(DataConfig(**{**cfg.to_dict(), **change}), receptive_field=100)


def test_frame_features_of_silence_and_noise_are_unvoiced_and_finite():
    cfg = DataConfig(**TINY, f0=True, f0_min=100.0, f0_max=400.0)
    silent = cfg.frame_features(torch.zeros(SR // 4))
    assert silent.shape == (18, SR // 4 // 64) and (silent[16:] == 0).all()
    noise = cfg.frame_features(torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, SR // 4)).float())
    assert torch.isfinite(noise).all() and noise[17].mean() < 0.2
    assert (noise[16][noise[17] == 0] == 0).all()


def test_speakers_from_folders_and_split(tmp_path):
    root = speaker_folder(tmp_path / "audio")
    cfg = DataConfig(**TINY, path=str(root), cache_dir=str(tmp_path / "cache"),
                     speakers_from_folders=True)
    data = prepare(cfg)
    assert data.speakers == ["alice", "bob", "carol"]
    for path, sid in zip(data.paths, data.speaker.tolist()):
        assert Path(path).relative_to(root).parts[0] == data.speakers[sid]
    assert (data.note == -1).all() and (data.f0 == 0).all()
    assert len(data.validation) == 2 and sorted(data.train + data.validation) == list(range(9))
    assert not set(data.train) & set(data.validation)
    assert prepare(cfg).validation == data.validation  # deterministic across runs
    other = prepare(DataConfig(**{**cfg.to_dict(), "seed": 1}))
    assert other.validation != data.validation
    assert prepare(DataConfig(**{**cfg.to_dict(), "speakers_from_folders": False})).speakers == []


def test_split_depends_on_names_not_order():
    names = [f"f{i}.wav" for i in range(50)]
    train, val = split(names, 0.2, seed=3)
    assert len(val) == 10 and sorted(train + val) == list(range(50))
    rev_train, rev_val = split(names[::-1], 0.2, seed=3)
    assert sorted(names[::-1][i] for i in rev_val) == sorted(names[i] for i in val)
    assert split(names[:1], 0.5, 0) == ([0], [])
    assert split(names[:2], 0.01, 0)[1] != [] and split(names, 0.0, 0)[1] == []


def test_embedded_corpus_prepares_with_note_labels(tmp_path):
    cfg = DataConfig(**TINY, cache_dir=str(tmp_path), corpus_low=60, corpus_high=62,
                     corpus_timbres=2, corpus_takes=2, speakers_from_folders=True)
    data = prepare(cfg, receptive_field=300)
    assert len(data) == 12 and not data.skipped
    assert sorted(set(data.note.tolist())) == [60, 61, 62]
    assert data.speakers == ["nylon", "steel"]
    for i, path in enumerate(data.paths):
        p = Path(path)
        assert int(p.stem.split("_")[0]) == data.note[i]
        assert p.parent.name == data.speakers[data.speaker[i]]
        assert float(data.f0[i]) == pytest.approx(midi_to_hz(int(data.note[i])))
    item = RandomCrops(data, data.train)[0]
    assert item["note"] == data.note[item["clip"]] and item["f0"] == data.f0[item["clip"]]


# -- crops --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    # long, medium, between the receptive field and a crop, shorter than the receptive field
    for k, seconds in enumerate([0.5, 0.25, 0.025, 0.015]):
        noise = rng.uniform(-0.5, 0.5, int(seconds * SR)) * tone(seconds, 3, amp=1)
        sf.write(root / f"{k}.wav", noise, SR)
    cfg = DataConfig(**{**TINY, "validation_fraction": 0.0}, path=str(root),
                     cache_dir=str(root / "cache"), trim_db=0)
    with pytest.warns(UserWarning, match="3.wav: shorter than the receptive field: 192 samples"):
        return prepare(cfg, receptive_field=300)


def test_crop_lengths(prepared):
    d = prepared
    assert d.length == 832 and d.frames == 13  # ceil((300 + 512) / 64) * 64
    assert d.left_pad == 320  # (832 - 512) // 64 * 64: the loss-carrying 512 samples are audio
    assert [d.clip_length(i) for i in range(len(d))] == [8000, 3968, 384]  # whole frames
    assert d.start_range(0) == (-320, 8000 - 832)
    assert d.start_range(2) == (384 - 832, 384 - 832)  # shorter than a crop: one start, at its end


def test_crop_is_aligned_with_its_mel(prepared):
    d = prepared
    mel_fn = LogMel(SR, 64, 16)
    for clip in range(len(d)):
        lo, hi = d.start_range(clip)
        whole = mel_fn(d.audio[d.bounds[clip, 0]:d.bounds[clip, 1]])  # (n_mels, T / hop)
        for start in sorted({lo, hi, lo + 64 * ((hi - lo) // 128), 0 if lo <= 0 <= hi else lo}):
            item = d.crop(clip, start)
            pad = max(0, -start)
            assert item["audio"].shape == (d.length,) and item["classes"].shape == (d.length,)
            assert item["mel"].shape == (16, d.frames) and int(item["pad"]) == pad
            assert torch.equal(item["classes"], mulaw_encode(item["audio"]))
            assert (item["audio"][:pad] == 0).all()
            a = int(d.bounds[clip, 0]) + max(0, start)
            assert torch.equal(item["audio"][pad:], d.audio[a:a + d.length - pad])
            # frame j covers samples [j*hop, (j+1)*hop): the clip's frame (start / hop) + j
            first, last = (start + pad) // 64, (start + d.length) // 64
            assert torch.equal(item["mel"][:, pad // 64:], whole[:, first:last])
            silent = d.silence_mel[:, None].expand(-1, pad // 64)
            assert torch.equal(item["mel"][:, :pad // 64], silent)
            # and, computed afresh from the crop itself, the frames inside it agree
            own = mel_fn(item["audio"])
            inner = slice(max(2, pad // 64 + 2), d.frames - 2)  # windows wholly inside the crop
            torch.testing.assert_close(own[:, inner], item["mel"][:, inner], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="multiple of 64"):
        d.crop(0, 32)
    with pytest.raises(ValueError, match=r"in \[-320, 7168\]"):
        d.crop(0, 7232)


def test_random_crops_deterministic_and_uniform_over_positions(prepared):
    d = prepared
    ds = RandomCrops(d, [0, 1, 2], epoch_size=2000, seed=7)
    positions = [ds.position(i) for i in range(len(ds))]
    assert positions == [RandomCrops(d, [0, 1, 2], 2000, seed=7).position(i) for i in range(2000)]
    assert positions != [RandomCrops(d, [0, 1, 2], 2000, seed=8).position(i) for i in range(2000)]
    ds.set_epoch(1)
    assert [ds.position(i) for i in range(2000)] != positions
    for clip, start in positions:
        lo, hi = d.start_range(clip)
        assert start % 64 == 0 and lo <= start <= hi
    counts = np.bincount([c for c, _ in positions], minlength=3)
    assert counts[0] > counts[1] > counts[2] > 0  # 118, 55 and 1 starts
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["audio"].shape == (4, 832) and batch["mel"].shape == (4, 16, 13)
    assert batch["classes"].dtype == torch.long and batch["speaker"].shape == (4,)
    with pytest.raises(IndexError):
        ds[2000]
    assert len(RandomCrops(d, d.train)) == (8000 + 3968 + 384) // 512  # about one pass


def test_onset_share_draws_that_share_of_crops_at_a_clips_onset(prepared, monkeypatch):
    d = prepared
    plain = [RandomCrops(d, [0, 1, 2], 3000, seed=7).position(i) for i in range(3000)]
    monkeypatch.setattr(d.config, "onset_share", 0.5)
    ds = RandomCrops(d, [0, 1, 2], epoch_size=3000, seed=7)
    positions = [ds.position(i) for i in range(3000)]
    at_onset = [c for c, s in positions if s == d.start_range(c)[0]]
    # half the crops, each clip alike (1/3 each), plus the uniform half's few onset draws
    assert 0.45 < len(at_onset) / 3000 < 0.6
    assert all(abs(np.mean(np.array(at_onset) == c) - 1 / 3) < 0.06 for c in range(3))
    share_of_onsets = sum(s == d.start_range(c)[0] for c, s in plain) / 3000
    assert share_of_onsets < 0.05  # without it, an onset is one start among many
    for clip, start in positions:
        lo, hi = d.start_range(clip)
        assert start % 64 == 0 and lo <= start <= hi


def test_fixed_crops(prepared):
    d = prepared
    one = FixedCrops(d, [0, 1, 2])
    assert one.positions == [(c, d.start_range(c)[0]) for c in range(3)]
    assert len(FixedCrops(d, d.validation, per_clip=3)) == 0  # validation_fraction=0
    three = FixedCrops(d, [0, 2], per_clip=3)
    assert three.positions == [(0, -320), (0, -320 + 58 * 64), (0, 7168), (2, -448)]
    assert torch.equal(three[1]["audio"], FixedCrops(d, [0, 2], per_clip=3)[1]["audio"])


# -- fuzzing ------------------------------------------------------------------------------------

RATES = [8000, 11025, 16000, 22050, 44100, 48000, 96000]
FUZZ = DataConfig(sample_rate=SR, hop_length=16, n_mels=8, n_fft=32, trim_db=0)


@st.composite
def signals(draw):
    """(samples (T, channels) float64, rate): noise, tone, DC, silence or huge, with NaN/inf."""
    n = draw(st.integers(0, 2000))
    channels = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    kind = draw(st.sampled_from(["noise", "tone", "dc", "silence", "huge", "tiny"]))
    t = np.arange(n)[:, None] / 1000.0
    x = {"noise": rng.uniform(-1, 1, (n, channels)),
         "tone": np.sin(2 * np.pi * 50 * t) * np.ones(channels),
         "dc": np.full((n, channels), 0.3), "silence": np.zeros((n, channels)),
         "huge": rng.normal(0, 1e30, (n, channels)),
         "tiny": rng.normal(0, 1e-6, (n, channels))}[kind]
    for value in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), max_size=3)):
        if n:
            x[rng.integers(n), rng.integers(channels)] = value
    return x, draw(st.sampled_from(RATES))


def check_clip(wave, reason, n, rate, cfg):
    if wave is None:
        assert isinstance(reason, str) and reason
        return
    assert reason is None and wave.dtype == np.float32 and wave.ndim == 1
    assert np.isfinite(wave).all() and np.abs(wave).max() <= 1.0
    assert len(wave) >= min_clip_samples(cfg)
    if cfg.trim_db == 0:
        assert len(wave) == math.ceil(n * cfg.sample_rate / rate)  # resampled to the target rate


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals(), st.booleans(), st.booleans())
def test_fuzz_clean_clip_never_raises(signal, normalise, trim):
    x, rate = signal
    cfg = DataConfig(**{**FUZZ.to_dict(), "normalise": normalise, "trim_db": 30.0 if trim else 0.0})
    data = x[:, 0] if x.shape[1] == 1 and normalise else x  # 1-D arrays too
    wave, reason = clean_clip(data, rate, cfg)
    check_clip(wave, reason, len(x), rate, cfg)
    if not np.isfinite(x).all():
        assert wave is None and "non-finite" in reason


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signals(), st.sampled_from(["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]),
       st.sampled_from(["WAV", "FLAC"]))
def test_fuzz_load_clip_never_raises(signal, subtype, fmt):
    x, rate = signal
    if fmt == "FLAC" and subtype not in ("PCM_16", "PCM_24"):
        fmt = "WAV"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x." + fmt.lower())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                sf.write(path, x, rate, subtype=subtype, format=fmt)
            except Exception:  # libsndfile refuses some combinations: the file is whatever it left
                pass
        wave, reason = load_clip(path, FUZZ)
        check_clip(wave, reason, len(x), rate, FUZZ)
        if subtype in ("FLOAT", "DOUBLE") and fmt == "WAV" and not np.isfinite(x).all():
            assert wave is None and "non-finite" in reason


def test_prepare_calls_the_patchable_loader():
    assert dataset_module.files is files_module


def test_the_data_section_knows_as_many_corpus_timbres_as_the_corpus_has():
    """DataConfig (in wavedil/features.py, which loading imports without the data package)
    holds the corpus's timbre count as a constant: it must be the corpus's own."""
    from wavedil.features import CORPUS_TIMBRES

    assert CORPUS_TIMBRES == len(TIMBRES)
    assert DataConfig(corpus_timbres=len(TIMBRES)).corpus_timbres == len(TIMBRES)
    with pytest.raises(ValueError, match="corpus_timbres"):
        DataConfig(corpus_timbres=len(TIMBRES) + 1)
