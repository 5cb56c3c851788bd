"""The docs: the README's size and generated table, the benchmarks' blocks on the results pages,
and the parts of the site that docs/hooks.py generates from the code."""

import dataclasses
import datetime
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BENCHMARKS = ROOT / "benchmarks"


def _load(name: str, path: Path):
    """A script as a module, registered under its name: the benchmarks import their neighbours
    by name (docs_page), so it is loaded before them."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


docs_page = _load("docs_page", BENCHMARKS / "docs_page.py")
headline = _load("headline", BENCHMARKS / "headline.py")
hooks = _load("hooks", DOCS / "hooks.py")


def test_the_readme_fits_on_a_few_screens():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_the_readme_headline_table_is_what_the_script_builds():
    text = (ROOT / "README.md").read_text()
    assert headline.readme_block(text) == headline.block(), \
        "README's headline table is stale: run python benchmarks/headline.py --write"


def test_every_headline_row_names_the_command_that_prints_it():
    rows = [line for line in headline.table().splitlines()[2:]]
    assert len(rows) >= 8
    for row in rows:
        command = row.rstrip(" |").rsplit("|", 1)[1].strip()
        assert re.fullmatch(r"`(wavedil models --json|python benchmarks/\S+\.py.*)`", command), row


def test_a_block_is_written_read_back_and_replaced_in_place(tmp_path):
    page = tmp_path / "speed.md"
    page.write_text("# Speed\n\nProse before.\n")
    table = ["| engine | batch | samples/s |", "|---|---:|---:|", "| fast | 1 | **1,000** |",
             "| slow | 1 | 10 |"]
    docs_page.write(page, docs_page.Block("main", "python benchmarks/x.py --quick", "2026-01-02",
                                          "Some CPU, 2 CPUs", table, ["torch 9"]))
    page.write_text(page.read_text() + "\nProse after.\n")
    block = docs_page.read(page, "main")
    assert (block.command, block.measured, block.machine, block.notes) == \
        ("python benchmarks/x.py --quick", "2026-01-02", "Some CPU, 2 CPUs", ["torch 9"])
    assert block.table == table
    assert block.cell("samples", engine="fast") == "1,000"
    with pytest.raises(KeyError):
        block.cell("samples", batch="1")  # two rows match
    docs_page.write(page, docs_page.Block("main", "python benchmarks/x.py", "2026-01-03", "CPU",
                                          table[:3], []))
    docs_page.write(page, docs_page.Block("other", "python benchmarks/y.py", "2026-01-03", "CPU",
                                          table[:3], []))
    text = page.read_text()
    assert text.startswith("# Speed\n\nProse before.\n")
    assert text.index("Prose after.") < text.index("benchmark other")  # replaced in place
    assert [b.name for b in docs_page.blocks(page)] == ["main", "other"]
    assert docs_page.read(page, "main").rows() == [{"engine": "fast", "batch": "1",
                                                     "samples/s": "**1,000**"}]


def test_a_run_is_described_by_its_command_date_and_machine():
    assert docs_page.command(["benchmarks/generation.py", "--part", "2", "--write-docs"]) == \
        "python benchmarks/generation.py --part 2"
    assert docs_page.measured(datetime.date(2026, 1, 2)).startswith("2026-01-02")
    assert re.search(r", \d+ CPUs", docs_page.machine())


def test_every_results_block_parses_and_names_a_benchmark():
    found = 0
    for page in sorted((DOCS / "results").glob("*.md")):
        for block in docs_page.blocks(page):
            assert block.command.startswith("python benchmarks/"), (page.name, block.name)
            assert re.match(r"(\d{4}-\d\d-\d\d|date not recorded)", block.measured)
            assert block.rows(), (page.name, block.name)
            script = ROOT / block.command.split()[1]
            assert "--write-docs" in script.read_text(), f"{script} cannot rewrite {block.name}"
            found += 1
    assert found >= 8


def test_the_effect_speed_table_reads_back_as_the_headline_reads_it(tmp_path):
    effect_realtime = _load("effect_realtime", BENCHMARKS / "effect_realtime.py")
    builds = ["stock (Release -O3)", "native (Release -O3 -march=native)"]
    rows = [{"size": size, "block": block, "real_time": 20.0 * block ** 0.1,
             "eager_real_time": 0.3, "samples_per_s": 1e6, "nam_samples_per_s": None,
             "gmac_per_s": 13.0, "compute_bound_real_time": 52.0,
             "nam_core": {builds[0]: 4e5, builds[1]: 8e5}}
            for size in ("standard", "nano") for block in (1, 16, 64, 512)]
    page = tmp_path / "effects.md"
    docs_page.write(page, docs_page.Block("speed", "python benchmarks/effect_realtime.py", "d", "m",
                                          effect_realtime.docs_table(rows, builds)))
    block = docs_page.read(page, "speed")
    assert block.cell("block 64", size="standard") == "30.3x"
    assert block.cell("x NAM", size="nano") == "n/a"
    assert block.cell("wavedil / native", size="standard") == "1.25 / 1.25"
    assert block.cell("NAM core stock", size="nano") == "8.3x / 8.3x"


def _section_classes() -> list[type]:
    return [cls for _, _, cls in hooks._sections()]


def test_the_recipe_reference_has_every_key_of_every_section():
    text = hooks.recipe_reference()
    names = [cls.__name__ for cls in _section_classes()]
    assert {"DataConfig", "PairedDataConfig", "WaveNetConfig", "HarmonicNoiseConfig",
            "EffectConfig", "TrainConfig", "GenerateConfig"} <= set(names)
    for cls in _section_classes():
        part = text.split(f"`{cls.__name__}`", 1)[1].split("\n## ", 1)[0]
        for f in dataclasses.fields(cls):
            row = next((line for line in part.splitlines() if line.startswith(f"| `{f.name}` |")),
                       None)
            assert row is not None, f"{cls.__name__}.{f.name} is not in the reference"
            assert row.rstrip(" |").rsplit("|", 1)[1].strip(), f"{cls.__name__}.{f.name}: no docs"


def test_the_allowed_values_come_from_the_checks():
    from wavedil.effect.model import EffectConfig
    from wavedil.wavenet.generate import GenerateConfig
    from wavedil.wavenet.model import WaveNetConfig
    from wavedil.train.recipe import TrainConfig

    assert hooks.allowed(TrainConfig)["steps"] == [">= 1"]  # a loop over the names
    assert hooks.allowed(GenerateConfig)["weights"] == ["fp32, bf16, bf16-dot, fast"]  # a constant
    assert hooks.allowed(EffectConfig)["preset"] == \
        ["one of standard, lite, feather, nano, a2, or null with arrays"]
    assert hooks.allowed(WaveNetConfig)["mel_scale"] == ["one of htk, slaney"]  # inherited
    assert any("{fft_size}" in t for t in hooks.allowed(WaveNetConfig)["win_length"])
    assert "`model.hop_length` must be data.hop\\_length" in hooks.recipe_checks()


def test_the_recipes_table_lists_every_recipe():
    text = hooks.recipes_table()
    for path in (ROOT / "recipes").glob("*.yaml"):
        assert f"| `{path.name}` |" in text


def test_the_command_line_reference_has_every_command_and_option():
    import typer.main

    from wavedil.cli import app

    text = hooks.cli_reference()
    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="wavedil")
    for name in group.list_commands(ctx):
        assert f"## wavedil {name}\n" in text
        for param in group.get_command(ctx, name).params:
            for opt in param.opts if param.opts[0].startswith("-") else []:
                assert opt in text, f"wavedil {name} {opt}"


def test_the_api_reference_lists_every_public_name():
    import wavedil

    text = hooks.api_reference()
    for name in wavedil.__all__:
        assert f"        - {name}\n" in text


def test_an_unknown_generated_part_fails_the_build():
    with pytest.raises(ValueError, match="unknown generated part 'nope'"):
        hooks.expand("<!-- generate: nope -->\n", "x.md")
    assert "| `pretrained:NAME` |" in hooks.expand("<!-- generate: pretrained -->\n")


def test_every_page_is_in_the_nav():
    def pages(nav) -> list[str]:
        out = []
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out += pages(value) if isinstance(value, list) else [value]
        return out

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = set(pages(config["nav"]))
    for page in DOCS.rglob("*.md"):
        assert str(page.relative_to(DOCS)) in listed, f"{page} is not in mkdocs.yml's nav"
