import pickle

import pytest

from wavedil.config import ConfigError, check_keys
from wavedil.wavenet.generate import GenerateConfig
from wavedil.wavenet.model import WaveNetConfig
from wavedil.train.recipe import TrainConfig, recipe_from_dict


@pytest.mark.parametrize("build,message", [
    (lambda: WaveNetConfig(kernel_size=0), "WaveNetConfig.kernel_size must be >= 1, got 0"),
    (lambda: TrainConfig(schedule="linear"),
     "TrainConfig.schedule must be cosine, exponential or constant, got 'linear'"),
    (lambda: GenerateConfig(engine="fast"), "GenerateConfig.engine must be auto, torch or numba, got 'fast'"),
    (lambda: WaveNetConfig.from_dict({"layers": "3"}), "WaveNetConfig.layers must be of type int, got '3'"),
])
def test_one_message_shape_names_config_key_allowed_and_value(build, message):
    with pytest.raises(ConfigError) as e:
        build()
    assert str(e.value) == message


def test_a_recipe_names_the_section_and_the_file_without_editing_the_message():
    with pytest.raises(ConfigError) as direct:
        WaveNetConfig(kernel_size=0)
    with pytest.raises(ConfigError) as recipe:
        recipe_from_dict({"model": {"kernel_size": 0}}, where="r.yaml")
    assert str(recipe.value) == "r.yaml: model.kernel_size must be >= 1, got 0"
    assert recipe.value.detail == direct.value.detail


def test_unknown_keys_suggest_the_nearest():
    with pytest.raises(ConfigError, match=r"^cfg.lyers is unknown \(did you mean 'layers'\?\); "
                                          r"allowed: layers, heads$"):
        check_keys("cfg", ["layers", "lyers"], ["layers", "heads"])
    check_keys("cfg", ["heads"], ["layers", "heads"])


def test_errors_are_value_errors_that_pickle():
    e = ConfigError("model", "layers", "must be >= 1, got 0", "r.yaml")
    back = pickle.loads(pickle.dumps(e))
    assert isinstance(back, ValueError) and str(back) == str(e) == "r.yaml: model.layers must be >= 1, got 0"
