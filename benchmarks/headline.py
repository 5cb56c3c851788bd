"""The README's table of headline figures, built from what was recorded, never typed in: the
shipped models (``wavedil/pretrained/models.json``, which ``wavedil models --json`` prints) and
the benchmark blocks of the results pages (docs/results/*.md, which each benchmark writes with
``--write-docs``; ``benchmarks/docs_page.py``). Each row names the command that prints its
figure and where the figure was measured.

    python benchmarks/headline.py            # print the table
    python benchmarks/headline.py --write    # and put it in README.md (between its markers)

After a model is re-shipped (``benchmarks/pretrained.py``) or a benchmark rewrites its page,
``--write`` brings the README up to date; tests/test_docs.py fails until it has.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import docs_page

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN = "<!-- headline: made by `python benchmarks/headline.py --write`; edits inside are lost -->"
END = "<!-- end headline -->"

FAMILIES = {"wavenet": "WaveNet", "harmonic_noise": "harmonic-plus-noise", "effect": "effect"}
UNITS = {"bits": "validation NLL {} bits/sample", "stft": "validation spectral loss {}",
         "esr": "validation ESR {}"}


def _number(text: str) -> float:
    return float(re.sub(r"[^\d.]", "", text.split()[0]))


def _where(block: docs_page.Block) -> str:
    """When and on what: the date of the block, and its machine without the extensions."""
    date = block.measured.split(", commit")[0]
    return f"{date}; {block.machine.split(';')[0]}"


def _row(what: str, figure: str, where: str, command: str) -> str:
    return f"| {what} | {figure} | {where} | `{command}` |"


def model_rows() -> list[str]:
    """One row per shipped model: its validation figure as training measured it."""
    from wavedil.pretrained import models

    rows = []
    for m in models():
        unit = UNITS.get(m.validation, m.validation + " {}")
        figure = (unit.format(f"**{m.best_val}**") + f" (untrained {m.untrained_val}); "
                  f"{m.steps:,} steps, {m.train_minutes} min of training")
        rows.append(_row(f"`pretrained:{m.name}` ({FAMILIES.get(m.kind, m.kind)})", figure,
                         m.hardware, "wavedil models --json"))
    return rows


def generation_rows() -> list[str]:
    """Config A's fastest wavedil engine at batch 1 and at the largest batch, against r9y9."""
    block = docs_page.read("generation.md", "config-a")
    rows = block.rows()
    peer = next((r for r in rows if r["engine"].startswith("r9y9")), None)
    out = []
    batches = sorted({int(r["batch"]) for r in rows})
    for batch in (batches[0], batches[-1]):
        best = max((r for r in rows if r["engine"].startswith("wavedil")
                    and int(r["batch"]) == batch), key=lambda r: _number(r[_col(r, "samples/s")]))
        plain = {k: v.replace("**", "") for k, v in best.items()}
        ratio = plain[_col(best, "vs r9y9")]
        vs = f", {ratio} r9y9's wavenet-vocoder" if peer and ratio != "n/a" else ""
        out.append(_row(f"WaveNet generation, config A, batch {batch}",
                        f"**{plain[_col(best, 'samples/s')]}** samples/s, "
                        f"{plain[_col(best, 'x real time at 16')]}x real time at 16 kHz{vs} "
                        f"({plain['engine'].removeprefix('wavedil ')})",
                        _where(block), block.command))
    return out


def training_rows() -> list[str]:
    """Config A's training step as ``wavedil train`` runs it, against r9y9."""
    block = docs_page.read("training.md", "config-a")
    row = next(r for r in block.rows() if "the default" in r["implementation"])
    plain = {k: v.replace("**", "") for k, v in row.items()}
    vs = plain[_col(row, "vs r9y9")]
    return [_row("WaveNet training step, config A", f"**{plain[_col(row, 'training samples/s')]}"
                 "** samples/s" + (f", {vs} r9y9's wavenet-vocoder" if vs != "n/a" else ""),
                 _where(block), block.command)]


def notes_rows() -> list[str]:
    """The quickstart WaveNet's held-out notes beside Griffin-Lim from the same frames."""
    block = docs_page.read("notes.md", "notes")
    rows = block.rows()
    ours = next(r for r in rows if r["system"].startswith("WaveNet"))
    gl = next(r for r in rows if r["system"].startswith("Griffin-Lim"))
    original = next(line for line in block.notes if line.startswith("the originals' HNR"))
    return [_row("WaveNet quickstart, 24 held-out notes",
                 f"HNR **{ours[_col(ours, 'HNR')]}** dB ({original.split(': ')[1].split(' (')[0]} "
                 f"in the originals), PESQ-wb {ours[_col(ours, 'PESQ')]}, "
                 f"{ours[_col(ours, 'within')]} within a semitone, "
                 f"{ours[_col(ours, 'train min')]} min of training; Griffin-Lim "
                 f"{gl[_col(gl, 'HNR')]} dB, {gl[_col(gl, 'PESQ')]}", _where(block),
                 block.command)]


SPEECH_VARIANT = "harmonic-noise"
"""The variant of benchmarks/vocoder.py that pretrained:speech was trained as."""


def speech_rows() -> list[str]:
    """Copy synthesis of held-out speech: the vocoder's network alone and refined, beside
    Griffin-Lim and Griffin-Lim refined (PESQ-wb; log-mel distance of the unrefined two)."""
    block = docs_page.read("speech.md", "copy-synthesis")
    rows = {r["system"]: r for r in block.rows()}

    def cell(pick, column: str) -> str:
        found = [r for name, r in rows.items() if pick(name)]
        if len(found) != 1:
            raise KeyError(f"speech.md copy-synthesis: {len(found)} rows match")
        return found[0][_col(found[0], column)].replace("**", "")

    def ours(n: str) -> bool:
        return n.startswith(f"wavedil {SPEECH_VARIANT} (")

    raw, refined = (lambda n: ours(n) and n.endswith("unrefined"),
                    lambda n: ours(n) and "refinement passes" in n)
    gl, gl_refined = (lambda n: n.startswith("Griffin-Lim ("),
                      lambda n: n.startswith("Griffin-Lim +"))
    return [_row("harmonic-plus-noise vocoder, held-out speech",
                 f"network alone PESQ-wb **{cell(raw, 'PESQ')}**, log-mel "
                 f"{cell(raw, 'log-mel')} dB; Griffin-Lim {cell(gl, 'PESQ')}, "
                 f"{cell(gl, 'log-mel')} dB; refined {cell(refined, 'PESQ')}, Griffin-Lim "
                 f"refined the same way {cell(gl_refined, 'PESQ')}", _where(block),
                 block.command)]


def effect_rows() -> list[str]:
    """The standard effect size streamed at block 64 on one thread."""
    block = docs_page.read("effects.md", "speed")
    row = next(r for r in block.rows() if r["size"] == "standard")
    plain = {k: v.replace("**", "") for k, v in row.items()}
    nam = plain[_col(row, "x NAM")]
    core = plain.get("wavedil / native")  # NAM core built with -march=native, where it ran
    return [_row("effect, standard size, block 64, one thread",
                 f"**{plain[_col(row, 'block 64')]}** real time at 48 kHz"
                 + (f", {nam}x NAM's Python model" if nam != "n/a" else "")
                 + (f", {core.split(' / ')[-1]}x NAM core (C++, -march=native)" if core else ""),
                 _where(block), block.command)]


def _col(row: dict[str, str], prefix: str) -> str:
    keys = [k for k in row if k.replace("**", "").startswith(prefix)]
    if len(keys) != 1:
        raise KeyError(f"{len(keys)} columns start with {prefix!r}: {', '.join(row)}")
    return keys[0]


def table() -> str:
    """The headline table, markdown."""
    lines = ["| | figure | measured on | printed by |", "|---|---|---|---|",
             *model_rows(), *notes_rows(), *generation_rows(), *training_rows(), *speech_rows(),
             *effect_rows()]
    return "\n".join(lines)


def block() -> str:
    """The table between the README's markers."""
    return f"{BEGIN}\n{table()}\n{END}"


def readme_block(text: str) -> str | None:
    """The README's current headline block, or None."""
    m = re.search(re.escape(BEGIN) + r".*?" + re.escape(END), text, re.S)
    return m.group(0) if m else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the table in README.md")
    args = ap.parse_args()
    new = block()
    print(new)
    if args.write:
        text = README.read_text()
        old = readme_block(text)
        if old is None:
            raise SystemExit(f"{README}: no headline markers ({BEGIN} ... {END})")
        README.write_text(text.replace(old, new))
        print(f"wrote the headline table into {README.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
