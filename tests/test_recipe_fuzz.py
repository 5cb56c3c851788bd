"""Property-based fuzzing of the recipe parser: any mapping either builds a valid recipe or
fails with one ValueError line; nothing else escapes."""

from typing import get_type_hints

from hypothesis import example, given, settings
from hypothesis import strategies as st

from wavedil.families import KINDS
from wavedil.train.recipe import SECTIONS, recipe_from_dict

KEYS = {name: list(get_type_hints(cls)) for name, cls in SECTIONS.items()}
KEYS["model"] = sorted({key for config_cls, _ in KINDS.values() for key in get_type_hints(config_cls)})
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.lists(st.integers(-4, 600), max_size=5), st.sampled_from(list(KINDS)))


@st.composite
def recipes(draw):
    raw = {}
    for section in draw(st.lists(st.sampled_from(list(SECTIONS) + ["bogus"]), max_size=4, unique=True)):
        keys = KEYS.get(section, ["x"]) + ["typo_key"]
        chosen = draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
        raw[section] = {k: draw(scalars) for k in chosen}
    return draw(st.one_of(st.just(raw), scalars))


@settings(max_examples=300, deadline=None)
@given(recipes())
@example({"model": {"kind": []}})
def test_recipe_parser_never_escapes(raw):
    try:
        recipe = recipe_from_dict(raw)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert recipe.model.hop_length == recipe.data.hop_length
    assert recipe.train.steps >= 1
