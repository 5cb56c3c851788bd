"""The package's structure: no import cycles, every file in a part that docs/layout.md names."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_layout():
    spec = importlib.util.spec_from_file_location("make_layout", ROOT / "docs" / "make_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layout = _load_layout()


def test_the_package_has_no_import_cycle():
    graph = layout.import_graph()
    assert {"wavedil.model", "wavedil.generate", "wavedil.data.crops"} <= set(graph)
    cycle = layout.find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_graph_sees_relative_function_level_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "wavedil"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .sub import g\n    return g\n")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n\ng = 1\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    from ..a import f\n")
    graph = layout.import_graph(pkg)
    assert graph == {"wavedil": {"wavedil.a"}, "wavedil.a": {"wavedil.sub"},
                     "wavedil.sub": {"wavedil.sub.b"}, "wavedil.sub.b": {"wavedil.a"}}
    assert layout.find_cycle(graph) == ["wavedil.a", "wavedil.sub", "wavedil.sub.b", "wavedil.a"]
    del graph["wavedil.sub.b"]
    assert layout.find_cycle(graph) is None


def test_reduce_keeps_only_the_edges_no_longer_path_implies():
    graph = {"a": {"b", "c"}, "b": {"c"}, "c": set()}
    assert layout.reduce(graph) == {"a": {"b"}, "b": {"c"}, "c": set()}


def test_every_file_is_in_a_part_that_the_layout_page_names():
    section = (ROOT / "docs" / "layout.md").read_text()
    assert "](img/layout.png)" in section
    for part in layout.PARTS:
        assert f"**{part}**" in section.lower(), f"docs/layout.md does not name the part {part!r}"
    for module, path in layout.modules().items():
        assert layout.part_of(module) is not None, f"{module} is in no part of docs/make_layout.py"
        name = path.relative_to(layout.PACKAGE)
        shown = f"{name.parts[0]}/" if len(name.parts) > 1 else name.name
        assert shown in section, f"docs/layout.md does not name {shown} ({module})"


@pytest.mark.parametrize("part", sorted(layout.PARTS))
def test_every_part_has_a_place_in_the_picture(part):
    assert part in layout._PLACES
