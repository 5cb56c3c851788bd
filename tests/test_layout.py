"""The package's structure: no import cycles, every file in a part that docs/layout.md names."""

import ast
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
    assert {"wavedil.wavenet.model", "wavedil.wavenet.generate", "wavedil.data.crops"} <= set(graph)
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


def _imports_between(sources: str | tuple[str, ...], targets: tuple[str, ...]) -> list[str]:
    """Edges 'a -> b' of the import graph from a module of the parts ``sources`` to a module of
    the parts ``targets``."""
    sources = (sources,) if isinstance(sources, str) else sources
    return sorted(f"{a} -> {b}" for a, bs in layout.import_graph().items() for b in bs
                  if layout.part_of(a) in sources and layout.part_of(b) in targets
                  and a not in layout.TRAINING_SIDE)


@pytest.mark.parametrize("family", layout.FAMILIES)
def test_a_family_imports_no_other_family_nor_data_training_drivers_or_interface(family):
    above = ("data", "training", "drivers", "interface")
    others = tuple(f for f in layout.FAMILIES if f != family)
    assert _imports_between(family, above + others) == []


def test_the_shared_parts_import_nothing_above_them():
    above = tuple(p for p in layout.PARTS if p not in layout.LOWER)
    assert _imports_between(layout.LOWER, above) == []


def test_data_never_imports_training_and_nothing_imports_the_interface():
    assert _imports_between("data", ("training", "drivers")) == []
    graph = layout.import_graph()
    assert sorted(a for a, bs in graph.items() if "wavedil.cli" in bs) == ["wavedil.__main__"]


def test_engines_never_import_their_driver():
    graph = layout.import_graph()
    engines = [m for m in graph if m.startswith("wavedil.wavenet.engines")]
    assert engines and all("wavedil.wavenet.generate" not in graph[m] for m in engines)
    assert "wavedil.effect.process" not in graph["wavedil.effect.engine"]


def test_the_training_pass_is_chosen_by_the_objective_not_by_the_model():
    graph = layout.import_graph()
    assert not any(layout.part_of(b) == "training" for b in graph["wavedil.wavenet.model"])


def test_loading_and_generating_import_neither_data_nor_training_nor_the_cli():
    """Every shipped model loads, and a WaveNet generates, in a fresh interpreter without
    importing the data package, training or the CLI."""
    import subprocess
    import sys

    code = ("import sys, json, torch\n"
            "from wavedil import generate, load_model\n"
            "from wavedil.pretrained import models\n"
            "for entry in models():\n"
            "    load_model('pretrained:' + entry.name)\n"
            "m = load_model('pretrained:quickstart').model\n"
            "frames = torch.zeros(1, m.config.local_channels, 2)\n"
            "generate(m, 200, local=frames, engine='torch')\n"
            "print(json.dumps(sorted(k for k in sys.modules if k.startswith('wavedil'))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    import json

    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    assert "wavedil.wavenet.generate" in loaded and "wavedil.effect.model" in loaded
    bad = [m for m in loaded if m.split(".")[1:2] in (["data"], ["train"], ["cli"])]
    assert bad == []


FAMILY_CLASSES = {"WaveNet": "wavenet", "WaveNetConfig": "wavenet",
                  "HarmonicNoiseNet": "harmonic_noise", "HarmonicNoiseConfig": "harmonic_noise",
                  "EffectNet": "effect", "EffectConfig": "effect", "PairedDataConfig": "effect"}


def _kind_questions(tree, family: str | None) -> list[str]:
    """Where a module asks which kind a model is: isinstance or type tests against another
    family's classes, comparisons with a ``.kind`` outside the families (a config checks its
    own), or the old is_effect / is_autoregressive."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
            names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} | {
                n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
            asked = {name for name in names if FAMILY_CLASSES.get(name, family) != family}
            if asked:
                found.append(f"line {node.lineno}: isinstance against {sorted(asked)}")
        elif family is None and isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "kind"
                and getattr(side.value, "attr", None) != "dtype"
                for side in [node.left, *node.comparators]):
            found.append(f"line {node.lineno}: compares .kind")
        elif isinstance(node, ast.Name) and node.id in ("is_effect", "is_autoregressive"):
            found.append(f"line {node.lineno}: {node.id}")
    return found


def test_outside_the_registry_no_code_asks_which_kind_a_model_is():
    """The drivers, training, checkpoint loading and the CLI call the family's record
    (wavedil/families.py); a family's own code may test for its own classes only."""
    questions = {}
    for module, path in layout.modules().items():
        if module == "wavedil.families":
            continue
        part = layout.part_of(module)
        family = part if part in layout.FAMILIES else None
        found = _kind_questions(ast.parse(path.read_text()), family)
        if found:
            questions[module] = found
    assert questions == {}


def test_the_kind_questions_are_seen():
    code = ("isinstance(m, EffectNet)\nif config.kind == 'effect': pass\nx.dtype.kind == 'f'\n"
            "isinstance(m, (nn.Module, wavenet.WaveNet))\nis_effect(c)\n")
    assert len(_kind_questions(ast.parse(code), None)) == 4
    assert _kind_questions(ast.parse("isinstance(m, EffectNet)"), "effect") == []
