"""The generated parts of the docs site, made from the code at build time (an MkDocs hook).

A page asks for a part with a marker line, ``<!-- generate: NAME -->``, which the build
replaces with the part's markdown (:data:`PARTS`):

    recipe-reference   every recipe key, section by section: its type, default, the values
                       the config's checks allow, and its docstring (the config dataclasses)
    recipe-checks      the checks across sections (wavedil.train.recipe.Recipe)
    recipes            the recipes in recipes/: kind, steps, batch and crop, their own summary
    cli-reference      every command of the typer app, with its arguments and options
    api-reference      mkdocstrings directives for the names wavedil/__init__.py exports
    pretrained         the shipped models, from wavedil/pretrained/models.json
    headline           the headline figures (benchmarks/headline.py, as in the README)

Nothing in these parts is copied by hand, so a renamed key, a new option or a new public name
shows up on the next build; ``mkdocs build --strict`` (CI) fails on a marker it does not know.
tests/test_docs.py runs the same functions.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib.util
import inspect
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- generate: ([\w-]+) -->$", re.M)


# --- recipe reference -------------------------------------------------------------------------

def _sections() -> list[tuple[str, str, type]]:
    """(heading, what it is for, config class) for every section a recipe can have, in the
    order of a recipe file; the model and data sections once per family."""
    from wavedil.families import KINDS, data_config_class
    from wavedil.train.recipe import SECTIONS

    out = []
    data_classes: dict[type, list[str]] = {}
    for kind in KINDS:
        data_classes.setdefault(data_config_class({"kind": kind}), []).append(kind)
    for name in SECTIONS:
        if name == "data":
            for cls, kinds in data_classes.items():
                out.append(("data", f"model.kind {' or '.join(kinds)}", cls))
        elif name == "model":
            for kind, (cls, _) in KINDS.items():
                out.append(("model", f"kind: {kind}", cls))
        else:
            out.append((name, "", SECTIONS[name]))
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _yaml(value: Any) -> str:
    """A value as a recipe writes it."""
    return json.dumps(value)


def _type(f: dataclasses.Field) -> str:
    return str(f.type if isinstance(f.type, str) else getattr(f.type, "__name__", f.type)) \
        .replace(" | ", " or ")


def allowed(cls: type) -> dict[str, list[str]]:
    """Field -> what the class's checks allow, read from the ``need(ok, key, allowed)`` calls in
    its methods (``__post_init__`` and the checks it calls) and in those of the classes it
    inherits from: the allowed text as the error message gives it, a module constant's value
    filled in (``one of {', '.join(PRESETS)}`` -> ``one of standard, lite, ...``), other values
    by name."""
    names = {f.name for f in dataclasses.fields(cls)}
    found: dict[str, list[str]] = {}
    for klass in cls.__mro__:
        if klass is object or not klass.__module__.startswith("wavedil") \
                or klass.__name__ == "Config":
            continue
        module = sys.modules[klass.__module__]
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        for key, text in _need_calls(tree, vars(module)):
            if key in names and text not in found.setdefault(key, []):
                found[key].append(text)
    return found


def _need_calls(tree: ast.AST, scope: dict[str, Any], section_first: bool = False
                ) -> list[tuple[str, str]]:
    """(key, allowed text) of every ``need`` call under ``tree``. Calls are ``need(ok, key,
    allowed)`` (a config's own checks) or, with ``section_first``, ``need(section, ok, key,
    allowed, got)`` (then the key comes back as ``section.key``). A key that is a loop variable
    over constants gives one entry per value."""
    out: list[tuple[str, str]] = []

    def visit(node: ast.AST, loops: dict[str, list[Any]]) -> None:
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            values = _constant(node.iter, scope)
            if isinstance(values, (list, tuple)):
                loops = {**loops, node.target.id: list(values)}
        call = _need_args(node, section_first)
        if call is not None:
            section, key, text = call
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                envs = [(key.value, {})]
            elif isinstance(key, ast.Name) and key.id in loops:
                envs = [(v, {key.id: v}) for v in loops[key.id]]
            else:
                envs = []
            for value, env in envs:
                out.append((f"{section}.{value}" if section else str(value),
                            _text(text, {**scope, **env})))
        for child in ast.iter_child_nodes(node):
            visit(child, loops)

    visit(tree, {})
    return out


def _need_args(node: ast.AST, section_first: bool) -> tuple[str | None, ast.AST, ast.AST] | None:
    """(section, key, allowed) of a ``need`` call of the asked form, else None."""
    if not (isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id == "need")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "need"))):
        return None
    args = node.args
    named = bool(args) and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str)
    if section_first and named and len(args) >= 4:
        return args[0].value, args[2], args[3]
    if not section_first and not named and len(args) >= 3:
        return None, args[1], args[2]
    return None


def _constant(node: ast.AST, scope: dict[str, Any]) -> Any:
    """The value of an expression that needs only module constants, else None."""
    if any(isinstance(n, ast.Name) and n.id not in scope and n.id not in vars(builtins)
           for n in ast.walk(node)):
        return None
    try:
        return eval(compile(ast.Expression(node), "<docs>", "eval"), dict(scope))  # noqa: S307
    except Exception:  # noqa: BLE001  a value known only at run time
        return None


def _text(node: ast.AST, scope: dict[str, Any]) -> str:
    """An allowed-values argument as text: constants as written, formatted values evaluated
    where they need only constants, else by name ({hop_length})."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v, scope) for v in node.values)
    conversion = -1
    if isinstance(node, ast.FormattedValue):
        node, conversion = node.value, node.conversion
    value = _constant(node, scope)
    if value is None:
        return "{" + ast.unparse(node).replace("self.", "") + "}"
    return repr(value) if conversion == ord("r") else str(value)


def _escape(text: str) -> str:
    """Text for a markdown table cell: pipes escaped; outside code spans, ``*``, ``<`` and
    ``_`` too (a docstring's ``4 * hop``, ``runs/<recipe name>``)."""
    text = re.sub(r":(?:class|func|meth|data|mod|attr):`", "`", text)
    parts = re.split(r"(``.*?``|`[^`]*`)", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part.replace("``", "`").replace("|", "\\|"))
        else:
            out.append(part.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")
                       .replace("_", "\\_"))
    return "".join(out)


def recipe_reference() -> str:
    """Every key of every recipe section, a table per section and family."""
    from wavedil.train.recipe import field_docs

    lines = []
    for section, what, cls in _sections():
        source = Path(inspect.getsourcefile(cls) or "").resolve().relative_to(ROOT)
        title = f"`{section}:`" + (f" ({what})" if what else "")
        lines += [f"## {title}", "",
                  f"`{cls.__name__}` in `{source}`: {_escape(' '.join((cls.__doc__ or '').split()))}",
                  "", "| key | type | default | allowed | what it does |",
                  "|---|---|---|---|---|"]
        docs, checks = field_docs(cls), allowed(cls)
        own = set(vars(cls).get("__annotations__", {}))
        for f in sorted(dataclasses.fields(cls), key=lambda f: f.name not in own):
            rule = "; ".join(checks.get(f.name, [])) or "-"
            lines.append(f"| `{f.name}` | `{_type(f)}` | `{_escape(_yaml(_default(f)))}` | "
                         f"{_escape(rule)} | {_escape(docs.get(f.name, ''))} |")
        lines.append("")
    return "\n".join(lines)


def recipe_checks() -> str:
    """The checks that compare sections, one line each, per model family (each family's
    ``check_recipe`` in wavedil.train.recipe, with the helpers it calls)."""
    from wavedil.families import FAMILIES
    from wavedil.train import recipe

    helpers = {"_check_frames(": recipe._check_frames,
               "_check_mel_settings(": recipe._check_mel_settings}
    out = []
    for kind, family in FAMILIES.items():
        check = family.hook("check_recipe")
        source = inspect.getsource(check)
        functions = [check] + [f for call, f in helpers.items() if call in source]
        seen, lines = set(), []
        for function in functions:
            tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
            for key, text in _need_calls(tree, vars(recipe), section_first=True):
                if (key, text) not in seen:
                    seen.add((key, text))
                    lines.append(f"- `{key}` must be {_escape(text)}")
        out += [f"**model.kind {kind}**", "", *lines, ""]
    return "\n".join(out)


def recipes_table() -> str:
    """The recipes in recipes/: the family, the training budget, and the first sentence of
    the recipe's own header comment, with its hardware-and-time line where it has one."""
    from wavedil.train.recipe import load_recipe

    lines = ["| recipe | kind | steps x batch x crop | what it is | hardware and time (the "
             "recipe's own note) |", "|---|---|---|---|---|"]
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        recipe = load_recipe(path)
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line[1:].strip())
        text = " ".join(header)
        summary = re.split(r"(?<=[\w)])\. ", text.split("  ")[0] + " ", maxsplit=1)[0]
        summary = re.sub(r"\s+wavedil .*$", "", summary).rstrip(". ")
        time = re.search(r"Hardware and time: (.*?)(?:\.(?:\s|$)|$)", text)
        train = recipe.train
        lines.append(f"| `{path.name}` | {recipe.model.kind} | {train.steps:,} x "
                     f"{train.batch_size} x {recipe.data.crop:,} | {_escape(summary)} | "
                     f"{_escape(time.group(1)) if time else '-'} |")
    return "\n".join(lines) + "\n"


# --- command line -------------------------------------------------------------------------------

def cli_reference() -> str:
    """Every command of ``wavedil``, as its --help gives it: usage, description, arguments and
    options with their defaults."""
    import typer.main

    from wavedil.cli import app

    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="wavedil")
    lines = ["```", "wavedil [OPTIONS] COMMAND [ARGS]...", "```", "", _help(group.help or ""),
             "", *_params(group, ctx), ""]
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or getattr(cmd, "hidden", False):
            continue
        sub = cmd.context_class(cmd, info_name=name, parent=ctx)
        args = [("" if p.required else "[") + (p.metavar or p.name.upper())
                + ("..." if p.nargs == -1 else "") + ("" if p.required else "]")
                for p in cmd.params if type(p).__name__.endswith("Argument")]
        lines += [f"## wavedil {name}", "", "```", f"wavedil {name} [OPTIONS] {' '.join(args)}".rstrip(),
                  "```", "", _help(cmd.help or ""), "", *_params(cmd, sub), ""]
    return "\n".join(lines)


def _help(text: str) -> str:
    """A command's docstring as markdown; its ``Example:`` lines as shell blocks."""
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        para = " ".join(para.split())
        if para.startswith("Example:"):
            out.append(f"```bash\n{para[len('Example:'):].strip()}\n```")
        else:
            out.append(_escape(para).replace("\\|", "|"))
    return "\n\n".join(out)


def _params(cmd: Any, ctx: Any) -> list[str]:
    lines = []
    for p in cmd.params:
        if getattr(p, "hidden", False):
            continue
        record = p.get_help_record(ctx)
        if record is None:
            continue
        opts, help_text = record
        lines.append(f"- `{opts}`: {_escape(' '.join(help_text.split()))}".rstrip(": "))
    return lines


# --- API ----------------------------------------------------------------------------------------

def api_reference() -> str:
    """An mkdocstrings directive per module of the public API, listing the names
    ``wavedil/__init__.py`` exports from it."""
    import wavedil

    exports: dict[str, tuple[str, ...]] = getattr(wavedil, "_EXPORTS")
    lines = []
    for module, names in exports.items():
        lines += [f"## `wavedil.{module}`", "", f"::: wavedil.{module}", "    options:",
                  "      members:", *(f"        - {n}" for n in names), ""]
    return "\n".join(lines)


# --- pretrained models and headline -------------------------------------------------------------

def pretrained_table() -> str:
    """The shipped models as ``wavedil models --json`` prints them."""
    from wavedil.pretrained import models

    lines = ["| `pretrained:NAME` | kind | what | trained on | steps | train min | validation "
             "(untrained -> shipped) | recipe | stored as |",
             "|---|---|---|---|---:|---:|---|---|---|"]
    for m in models():
        lines.append(f"| `{m.name}` | {m.kind} | {_escape(m.description)} | {_escape(m.data)} | "
                     f"{m.steps:,} | {m.train_minutes} | {m.validation} {m.untrained_val} -> "
                     f"**{m.best_val}** | `{m.recipe}` | {m.dtype} |")
    return "\n".join(lines) + "\n"


def _headline_module() -> Any:
    benchmarks = str(ROOT / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    if "headline" in sys.modules:
        return sys.modules["headline"]
    spec = importlib.util.spec_from_file_location("headline", ROOT / "benchmarks" / "headline.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["headline"] = module
    spec.loader.exec_module(module)
    return module


def headline() -> str:
    return _headline_module().table() + "\n"


PARTS: dict[str, Callable[[], str]] = {
    "recipe-reference": recipe_reference,
    "recipe-checks": recipe_checks,
    "recipes": recipes_table,
    "cli-reference": cli_reference,
    "api-reference": api_reference,
    "pretrained": pretrained_table,
    "headline": headline,
}
"""Marker name -> the function that writes that part."""


def expand(markdown: str, where: str = "page") -> str:
    """Replace every ``<!-- generate: NAME -->`` line with its part."""
    def part(m: re.Match) -> str:
        name = m.group(1)
        if name not in PARTS:
            raise ValueError(f"{where}: unknown generated part {name!r} "
                             f"(known: {', '.join(PARTS)})")
        return PARTS[name]().rstrip("\n")

    return MARKER.sub(part, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs hook: fill the generated parts of a page."""
    return expand(markdown, page.file.src_path)
