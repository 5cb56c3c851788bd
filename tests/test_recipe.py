from pathlib import Path

import pytest

from wavedil.data import DataConfig
from wavedil.effect.data_config import PairedDataConfig
from wavedil.effect.model import EffectConfig
from wavedil.wavenet.generate import GenerateConfig
from wavedil.harmonic_noise.model import HarmonicNoiseConfig
from wavedil.wavenet.model import WaveNetConfig
from wavedil.train.recipe import (SECTIONS, TrainConfig, field_docs, load_recipe,
                                  recipe_from_dict, recipe_yaml, save_recipe)

RECIPES = sorted(Path(__file__).resolve().parents[1].joinpath("recipes").glob("*.yaml"))


def test_there_are_recipes():
    names = {p.stem for p in RECIPES}
    assert "quickstart" in names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_against_the_code(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    # the model's sample rate (and FFT size) are the data's, filled in where the recipe omits them
    assert recipe.model.sample_rate == recipe.data.sample_rate
    if recipe.model.kind != "effect":
        assert recipe.model.hop_length == recipe.data.hop_length
        assert recipe.model.n_fft == recipe.data.fft_size
    text = path.read_text()
    assert "Hardware and time:" in text, "each recipe states the hardware and time it needs"


@pytest.mark.parametrize("cls", [DataConfig, WaveNetConfig, HarmonicNoiseConfig, TrainConfig,
                                 GenerateConfig, EffectConfig, PairedDataConfig])
def test_every_field_is_documented(cls):
    from dataclasses import fields

    docs = field_docs(cls)
    missing = [f.name for f in fields(cls) if f.name not in docs]
    assert not missing


@pytest.mark.parametrize("raw,match", [
    ({"modle": {}}, r"recipe.modle is unknown \(did you mean 'model'\?\)"),
    ({"model": {"layerz": 3}}, r"model.layerz is unknown \(did you mean 'layers'\?\)"),
    ({"train": {"lr": "fast"}}, r"train.lr must be of type float, got 'fast'"),
    ({"train": {"steps": 1.5}}, r"train.steps must be of type int"),
    ({"train": {"steps": 0}}, r"train.steps must be >= 1, got 0"),
    ({"train": {"schedule": "linear"}}, r"train.schedule must be cosine, exponential or constant"),
    ({"model": {"kernel_size": 0}}, r"model.kernel_size must be >= 1, got 0"),
    ({"data": {"sample_rate": -1}}, r"data.sample_rate"),
    ({"model": {"hop_length": 200}}, r"model.hop_length must be data.hop_length \(256\), got 200"),
    ({"model": {"dilations": "1,2"}}, r"model.dilations must be of type"),
    ({"model": {"speakers": 4}}, r"speakers_from_folders"),
    ({"model": {"local_channels": 20}, "data": {"n_mels": 80}}, r"model.local_channels must be data.n_mels \(80\).*got 20"),
    ({"model": {"local_channels": 80}, "data": {"n_mels": 80, "f0": True}},
     r"model.local_channels must be data.n_mels \+ 2 for data.f0 \(82\), or 0 .*got 80"),
    ({"model": {"local_channels": 10}, "data": {"n_mels": 8, "f0": True}},
     r"model.f0_input must be data.f0 \(true\).*got False"),
    ({"model": {"local_channels": 10, "f0_input": True}, "data": {"n_mels": 10}},
     r"model.f0_input must be data.f0 \(false\).*got True"),
    ({"model": {"sample_rate": 16000}, "data": {"sample_rate": 22050}},
     r"model.sample_rate must be data.sample_rate \(22050\).*got 16000"),
    ({"model": {"n_fft": 512}, "data": {"n_fft": 2048}},
     r"model.n_fft must be null or data.n_fft \(2048, .*got 512"),
    ({"model": {"n_fft": 512}}, r"model.n_fft must be null or data.n_fft \(1024, .*got 512"),
    ({"model": {"kind": "gan"}}, r"model.kind must be one of wavenet, harmonic_noise, istft, effect, got 'gan'"),
    ({"model": {"kind": "harmonic_noise", "layers": 3}, "data": {"f0": True}},
     r"model.layers is unknown"),
    ({"model": {"kind": "harmonic_noise"}}, r"data.f0 must be true for model.kind harmonic_noise"),
    ({"model": {"kind": "harmonic_noise", "local_channels": 80}, "data": {"f0": True}},
     r"model.local_channels must be data.n_mels \+ 2 \(82: .*got 80"),
    ({"model": {"kind": "harmonic_noise"}, "data": {"f0": True}, "train": {"input_noise": 0.1}},
     r"train.input_noise must be 0 for model.kind harmonic_noise"),
    ({"generate": {"voiced_temperature": 0.0}},
     r"generate.voiced_temperature must be null without model.pitch_lags .*got 0.0"),
    ({"generate": {"voiced_temperature": -0.5}}, r"generate.voiced_temperature must be >= 0"),
    ({"data": {"onset_share": 2}}, r"data.onset_share must be a number in \[0, 1\]"),
    ({"train": {"stft_weight": 0.01}}, r"train.stft_weight must be left at its default "
     r"\(0.0002\) for model.kind wavenet \(.*NLL\), got 0.01"),
    ({"train": {"stft_sizes": [512]}}, r"train.stft_sizes must be left at its default"),
    ({"model": {"kind": "harmonic_noise"}, "data": {"f0": True},
      "train": {"esr_pre_emphasis": 0.5}},
     r"train.esr_pre_emphasis must be left at its default \(0.85\) for model.kind harmonic_noise"),
])
def test_bad_recipes_fail_with_one_line_naming_the_key(raw, match):
    with pytest.raises(ValueError, match=match) as e:
        recipe_from_dict(raw)
    assert "\n" not in str(e.value)


def test_the_model_takes_sample_rate_and_n_fft_from_the_data():
    raw = {"data": {"sample_rate": 22050, "hop_length": 128, "n_mels": 8, "f0": True},
           "model": {"hop_length": 128, "local_channels": 10, "f0_input": True}}
    r = recipe_from_dict(raw)
    assert (r.model.sample_rate, r.model.n_fft, r.model.mel_channels) == (22050, 512, 8)
    assert raw["model"] == {"hop_length": 128, "local_channels": 10, "f0_input": True}  # untouched
    assert recipe_from_dict(r.to_dict()) == r  # what a checkpoint stores builds the same recipe
    # explicit values that agree are fine, and so is n_fft: null
    same = recipe_from_dict({**raw, "model": {**raw["model"], "sample_rate": 22050, "n_fft": None}})
    assert (same.model.sample_rate, same.model.n_fft) == (22050, None)
    # a --set on the data moves the model with it
    r = recipe_from_dict(raw, overrides=["data.sample_rate=8000", "data.n_fft=256"])
    assert (r.model.sample_rate, r.model.n_fft) == (8000, 256)
    assert recipe_from_dict({"model": None}).model.sample_rate == 16000


def test_overrides(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("train:\n  lr: 0.001\n")
    r = load_recipe(p, ["train.lr=3e-4", "model.dilations=[1, 2, 4]", "data.path=/x"])
    assert r.train.lr == 3e-4 and r.model.dilations == [1, 2, 4] and r.model.layers == 3
    assert r.data.path == "/x"
    with pytest.raises(ValueError, match="section.key=value"):
        load_recipe(p, ["lr=3"])
    with pytest.raises(ValueError, match="did you mean 'train'"):
        load_recipe(p, ["trian.lr=3"])


def test_file_errors(tmp_path):
    with pytest.raises(ValueError, match="no such recipe"):
        load_recipe(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_recipe(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_recipe(unsafe)


def test_sections_cover_the_configs():
    assert set(SECTIONS) == {"data", "model", "train", "generate", "adversarial"}


def test_errors_from_set_values_name_the_override_not_the_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("train:\n  lr: 0\nmodel:\n  layers: 3\n")
    cases = {"train.lr=abc": "--set train.lr=abc: train.lr must be of type float, got 'abc'",
             "train.lr=-1": "--set train.lr=-1: train.lr must be > 0, got -1",
             "train.lrr=1": "--set train.lrr=1: train.lrr is unknown (did you mean 'lr'?)",
             "model.kind=gan": "--set model.kind=gan: model.kind must be one of wavenet,",
             "model.hop_length=7": "--set model.hop_length=7: model.hop_length must be "
                                   "data.hop_length (256), got 7",
             "data.pairs=[1]": "--set data.pairs=[1]: data.pairs is unknown"}
    for text, message in cases.items():
        with pytest.raises(ValueError) as e:
            load_recipe(p, ["train.lr=0.001", text])
        assert str(e.value).startswith(message), str(e.value)
    # a bad value in the file is still the file's, with an override of another key beside it
    with pytest.raises(ValueError, match=f"^{p}: train.lr must be > 0, got 0$"):
        load_recipe(p, ["train.steps=5"])
    # the last override of a key is the one named
    with pytest.raises(ValueError, match=r"^--set train.lr=-2: train.lr must be > 0, got -2$"):
        load_recipe(p, ["train.lr=abc", "train.lr=-2"])


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_the_resolved_recipe_loads_back_as_the_same_recipe(path, tmp_path):
    import yaml

    recipe = load_recipe(path, ["train.steps=7", "generate.seed=3"])
    written = save_recipe(recipe, tmp_path / "run" / "recipe.yaml")
    assert [p.name for p in written.parent.iterdir()] == ["recipe.yaml"]  # no temporary left
    again = load_recipe(written)
    # every section as it was, and the run folder written out, so the copy trains into the same one
    expected = recipe.to_dict()
    expected["train"]["run_dir"] = f"runs/{path.stem}"
    assert again.to_dict() == expected and again.run_dir == recipe.run_dir
    assert (again.train.steps, again.generate.seed) == (7, 3)
    # every key of every section is in the text, with its value
    text = written.read_text()
    assert text.startswith(f"# wavedil recipe '{path.stem}', resolved")
    assert yaml.safe_load(text) == expected
    # and writing the copy gives the same text (but for the name in the first line)
    assert recipe_yaml(again).splitlines()[1:] == text.splitlines()[1:]
