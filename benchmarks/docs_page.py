"""Benchmarks write their own documentation: each table goes into a marked block of a page under
docs/results/, with the command that printed it, the date, the commit and the machine as
/proc/cpuinfo names it. A run with ``--write-docs`` replaces its blocks whole and leaves the
rest of the page (the prose around them) as it was; a block not on the page yet is appended.

    <!-- benchmark NAME: written by the command below with --write-docs; edits inside are lost -->
    - command: `python benchmarks/generation.py --part 2`
    - measured: 2026-12-03, commit eeaa788
    - machine: AMD EPYC 9R14 96-Core Processor (family 25, model 17), 2 CPUs; AVX2, AVX-512, AVX512-BF16
    - (notes: the machine's peaks measured in the run, and the like)

    | the table, as the benchmark prints it |
    <!-- end benchmark NAME -->

:func:`read` parses a block back (``benchmarks/headline.py`` builds the README's headline
table from them), so a figure quoted elsewhere is looked up, not copied.
"""

from __future__ import annotations

import datetime
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
"""The results pages."""

_BEGIN = "<!-- benchmark {name}: written by the command below with --write-docs; edits inside are lost -->"
_END = "<!-- end benchmark {name} -->"
_BLOCK = re.compile(r"<!-- benchmark (?P<name>[\w.-]+):.*?-->\n(?P<body>.*?)<!-- end benchmark (?P=name) -->\n?",
                    re.S)
_KEYS = ("command", "measured", "machine")


@dataclass
class Block:
    """One benchmark table on a results page and where it comes from."""

    name: str
    """The block's name on its page (``config-a``)."""
    command: str
    """The command that printed the table."""
    measured: str
    """The date, and the commit where known: ``2026-12-03, commit eeaa788``."""
    machine: str
    """The CPU as /proc/cpuinfo names it, with the CPUs the run could use."""
    table: list[str]
    """The markdown table's lines."""
    notes: list[str] = field(default_factory=list)
    """More lines about the run (the machine's measured peaks, the peer's version)."""

    def render(self) -> str:
        lines = [_BEGIN.format(name=self.name), f"- command: `{self.command}`",
                 f"- measured: {self.measured}", f"- machine: {self.machine}",
                 *(f"- {note}" for note in self.notes), "", *self.table,
                 _END.format(name=self.name)]
        return "\n".join(lines) + "\n"

    def rows(self) -> list[dict[str, str]]:
        """The table's rows, each a mapping from column header to cell (markdown as written)."""
        head, *body = [_cells(line) for line in self.table if line.strip().startswith("|")]
        body = [r for r in body if not all(set(c) <= set(":-") and c for c in r)]
        return [dict(zip(head, r)) for r in body]

    def cell(self, column: str, **match: str) -> str:
        """The cell of the column whose header starts with ``column`` in the one row whose
        cells equal ``match`` (header prefix -> cell text, ``**`` emphasis ignored)."""
        found = [r for r in self.rows()
                 if all(_plain(_get(r, k, self.name)) == v for k, v in match.items())]
        if len(found) != 1:
            raise KeyError(f"block {self.name}: {len(found)} rows match {match}")
        return _plain(_get(found[0], column, self.name))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _plain(text: str) -> str:
    return text.replace("**", "").strip()


def _get(row: dict[str, str], prefix: str, name: str) -> str:
    keys = [k for k in row if _plain(k).startswith(prefix)]
    if len(keys) != 1:
        raise KeyError(f"block {name}: {len(keys)} columns start with {prefix!r} "
                       f"(columns: {', '.join(row)})")
    return row[keys[0]]


def machine() -> str:
    """The CPU as /proc/cpuinfo names it (model name, family and model), the CPUs this process
    may run on, and the vector extensions the kernels care about."""
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    import platform

    name = info.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in info and "model" in info:
        name += f" (family {info['cpu family']}, model {info['model']})"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags = set(info.get("flags", "").split())
    ext = [label for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"),
                                     ("avx512_bf16", "AVX512-BF16")) if flag in flags]
    if flags and "avx512_bf16" not in flags:
        ext.append("no AVX512-BF16")
    return f"{name}, {cpus} CPUs" + (f"; {', '.join(ext)}" if ext else "")


def measured(today: datetime.date | None = None) -> str:
    """Today's date and the commit of this tree (noting uncommitted changes to the package)."""
    date = (today or datetime.date.today()).isoformat()
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD", "--",
                                "wavedil"]).returncode != 0
    except (OSError, subprocess.CalledProcessError):
        return date
    return f"{date}, commit {commit}" + (" with uncommitted changes to wavedil/" if dirty else "")


def command(argv: list[str] | None = None) -> str:
    """The command line of this run as one would type it from the repository's root, without
    ``--write-docs``."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = argv[0]
    args = [a for a in argv[1:] if a != "--write-docs"]
    return " ".join(["python", shown, *map(shlex.quote, args)])


def read(page: str | Path, name: str) -> Block:
    """The block ``name`` of a results page (``generation.md`` or a path)."""
    path = _page(page)
    for m in _BLOCK.finditer(path.read_text()):
        if m.group("name") == name:
            return _parse(name, m.group("body"), path)
    raise KeyError(f"{path}: no benchmark block {name!r}")


def blocks(page: str | Path) -> list[Block]:
    """Every block of a page, in order."""
    path = _page(page)
    return [_parse(m.group("name"), m.group("body"), path) for m in _BLOCK.finditer(path.read_text())]


def _parse(name: str, body: str, path: Path) -> Block:
    lines = body.rstrip("\n").splitlines()
    values, notes, table = {}, [], []
    for line in lines:
        m = re.match(r"- (command|measured|machine): (.*)$", line)
        if m and not table and m.group(1) not in values:
            values[m.group(1)] = m.group(2).strip()
        elif line.startswith("- ") and not table:
            notes.append(line[2:])
        elif line.strip():
            table.append(line)
    missing = [k for k in _KEYS if k not in values]
    if missing:
        raise ValueError(f"{path}: benchmark block {name!r} lacks {', '.join(missing)}")
    return Block(name, values["command"].strip("`"), values["measured"], values["machine"], table,
                 notes)


def write(page: str | Path, block: Block) -> Path:
    """Put ``block`` on the page: in place of the block of the same name, or at the end."""
    path = _page(page)
    text = path.read_text() if path.exists() else f"# {path.stem.capitalize()}\n"
    new = block.render()
    for m in _BLOCK.finditer(text):
        if m.group("name") == block.name:
            text = text[:m.start()] + new + text[m.end():]
            break
    else:
        text = text.rstrip("\n") + "\n\n" + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def record(page: str | Path, name: str, table: list[str], notes: list[str] | None = None,
           argv: list[str] | None = None) -> Path:
    """Write ``table`` as block ``name`` of ``page`` with this run's command, date, commit and
    machine, and say so on stdout."""
    path = write(page, Block(name, command(argv), measured(), machine(), table, notes or []))
    print(f"wrote block {name!r} of {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def _page(page: str | Path) -> Path:
    path = Path(page)
    return path if path.parent != Path(".") or path.is_absolute() else RESULTS / path


__all__ = ["Block", "blocks", "command", "machine", "measured", "read", "record", "write"]
