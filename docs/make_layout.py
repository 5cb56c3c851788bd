"""Draw the package's layout, docs/img/layout.png, from its import graph.

    python docs/make_layout.py [OUT.png]

Every module under wavedil/ is read with ``ast`` (nothing is imported), its imports of the
package's own modules (at module level and inside functions) become edges, modules are
grouped into the parts that docs/layout.md names (``PARTS``), and the parts
are drawn as labelled boxes listing their files, with an arrow from a part to each part it
imports; an import that a longer path of arrows implies is left out, and a part none of whose
modules exists yet gets no box. tests/test_layout.py uses ``import_graph`` and ``find_cycle``
to keep the graph free of cycles and ``part_of`` to keep every file in a part.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wavedil"

PARTS: dict[str, tuple[str, ...]] = {
    "interface": ("wavedil", "wavedil.__main__", "wavedil.cli"),
    "training": ("wavedil.train",),
    "data": ("wavedil.data",),
    "drivers": ("wavedil.synthesis", "wavedil.evaluate", "wavedil.export", "wavedil.plots",
                "wavedil.vocode"),
    "checkpoint": ("wavedil.checkpoint", "wavedil.families", "wavedil.pretrained"),
    "wavenet": ("wavedil.wavenet",),
    "harmonic_noise": ("wavedil.harmonic_noise",),
    "istft": ("wavedil.istft",),
    "effect": ("wavedil.effect",),
    "nn": ("wavedil.nn",),
    "foundations": ("wavedil.dsp", "wavedil.config", "wavedil.features"),
    "native": ("wavedil.native",),
}
"""Part -> the modules and subpackages in it (a subpackage brings all of its modules). Some
named modules may not exist yet; every module that exists must be in exactly one part."""

FAMILIES = ("wavenet", "harmonic_noise", "istft", "effect")
"""The parts that are model families: none imports another, nor training, data, the drivers
or the interface (tests/test_layout.py), except the modules in ``TRAINING_SIDE``."""

TRAINING_SIDE = ("wavedil.effect.paired",)
"""Family modules that are training data, not the model: an effect's paired signals, read by
the trainer and never by loading or processing."""

LOWER = ("nn", "foundations", "native")
"""The shared parts under the families: they import no family and nothing above them."""

# Where each part's box stands: (column, row), row 0 at the top. Data flows from the left
# (audio files -> data -> training) to the checkpoint in the middle, and from there to the
# right (drivers -> the families' models and engines -> audio files).
_PLACES = {"interface": (1, 0), "training": (0, 1), "drivers": (2, 1),
           "data": (0, 2), "checkpoint": (1, 2),
           "effect": (0, 3), "wavenet": (1, 3), "harmonic_noise": (2, 3), "istft": (3, 3),
           "foundations": (0, 4), "nn": (1, 4), "native": (2, 4)}


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name ('wavedil.data' for data/__init__.py)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in its file (module level,
    functions, ``if TYPE_CHECKING``). ``from .x import name`` is an edge to ``x``, or to
    ``x.name`` where that is a module itself."""
    mods = modules(package)

    def owner(name: str) -> str | None:  # the longest prefix that is a module of the package
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = here.split(".")[:len(here.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets += [f"{base}.{alias.name}" for alias in node.names]
        graph[name] = {owner(t) for t in targets} - {None, name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as [a, b, ..., a], or None when it has none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def part_of(module: str) -> str | None:
    """The part a module belongs to (through its subpackage), or None."""
    for part, members in PARTS.items():
        for m in members:
            if module == m or (m != "wavedil" and module.startswith(m + ".")):
                return part
    return None


def part_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Part -> the other parts its modules import."""
    edges: dict[str, set[str]] = {part: set() for part in PARTS}
    for module, targets in graph.items():
        edges[part_of(module)] |= {part_of(t) for t in targets} - {part_of(module)}
    return edges


def reduce(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """An acyclic graph without the edges that a path of two or more edges implies (its
    transitive reduction)."""
    def reach(node: str, seen: set[str]) -> set[str]:
        for nxt in graph[node] - seen:
            seen.add(nxt)
            reach(nxt, seen)
        return seen

    return {a: {b for b in bs if not any(b in reach(c, set()) for c in bs - {b})}
            for a, bs in graph.items()}


def _files(part: str, mods: dict[str, Path]) -> list[str]:
    """The part's files as the picture lists them: 'checkpoint.py'; a subpackage's own files
    ('model.py', 'engines/' for a package inside it) where there are at most eight, else the
    subpackage itself ('train/')."""
    names = []
    for member in PARTS[part]:
        path = mods.get(member)
        if path is None:
            continue
        if path.name != "__init__.py" or member == "wavedil":
            names.append(str(path.relative_to(PACKAGE)))
            continue
        inside = sorted({m[len(member) + 1:].split(".")[0] + ("/" if "." in m[len(member) + 1:]
                                                              or mods[m].name == "__init__.py"
                                                              else ".py")
                         for m in mods if m.startswith(member + ".")})
        names += inside if len(inside) <= 8 else [f"{path.parent.name}/"]
    return names


def _bend(start: tuple[float, float], end: tuple[float, float],
          others: list[tuple[float, float]], half_w: float, half_h: float) -> float:
    """The first curvature (matplotlib's arc3 ``rad``) whose arrow passes no other box."""
    (x0, y0), (x1, y1) = start, end
    for rad in (0.0, 0.3, -0.3, 0.5, -0.5):
        cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)  # control point
        curve = [((1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t ** 2 * x1,
                  (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t ** 2 * y1)
                 for t in (i / 40 for i in range(1, 40))]
        if not any(abs(x - ox) < half_w and abs(y - oy) < half_h
                   for x, y in curve for ox, oy in others):
            return rad
    return 0.3


def draw(out: Path) -> None:
    """Write the picture of the parts and their imports to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    mods, graph = modules(), import_graph()
    missing = sorted(m for m in mods if part_of(m) is None)
    if missing or set(_PLACES) != set(PARTS):
        raise SystemExit(f"make_layout: modules in no part {missing}, or a part without a place")
    parts = part_graph(graph)
    edges = parts if find_cycle(parts) else reduce(parts)
    places = {p: _PLACES[p] for p in PARTS if _files(p, mods)}  # a part with no file yet: no box
    step_x, step_y, box_w, box_h = 3.4, 1.75, 3.1, 1.35
    columns = max(column for column, _ in places.values()) + 1
    fig, ax = plt.subplots(figsize=(11 * (columns * step_x) / (3 * step_x), 8.6))
    boxes = {}
    for part, (column, row) in places.items():
        x, y = column * step_x, -row * step_y
        boxes[part] = ax.add_patch(FancyBboxPatch(
            (x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.02,rounding_size=0.08",
            facecolor="#eef3fa", edgecolor="#36597f", lw=1.2, zorder=2))
        files = _files(part, mods)
        lines = [", ".join(files[i:i + 3]) for i in range(0, len(files), 3)]
        ax.text(x, y + 0.45, part, ha="center", va="center", weight="bold", zorder=3)
        ax.text(x, y - 0.1, "\n".join(lines), ha="center", va="center", fontsize=8,
                family="monospace", zorder=3)
    centres = {p: (c * step_x, -r * step_y) for p, (c, r) in places.items()}
    for source in PARTS:
        for target in sorted(edges[source]):
            others = [xy for p, xy in centres.items() if p not in (source, target)]
            rad = _bend(centres[source], centres[target], others, box_w / 2 + 0.05, box_h / 2 + 0.05)
            ax.annotate("", xy=centres[target], xytext=centres[source],
                        arrowprops=dict(arrowstyle="-|>", color="#555555", lw=1.1, shrinkA=2,
                                        shrinkB=2, patchA=boxes[source], patchB=boxes[target],
                                        connectionstyle=f"arc3,rad={rad}"), zorder=1)
    ax.set_xlim(-box_w / 2 - 0.3, (columns - 1) * step_x + box_w / 2 + 0.3)
    ax.set_ylim(-4 * step_y - box_h / 2 - 0.8, box_h / 2 + 0.3)  # room for an arrow round the bottom
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("wavedil's parts: an arrow points to a part that the part imports\n"
                 "(an import that a longer path of arrows already implies is not drawn)", fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    cycle = find_cycle(import_graph())
    if cycle:
        raise SystemExit(f"make_layout: import cycle {' -> '.join(cycle)}")
    draw(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "img" / "layout.png")
