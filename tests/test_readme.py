"""The README's tour runs as written and prints what its comments say."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs():
    text = README.read_text()
    code = re.search(r"## A quick tour of the API\n\n```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["y"].shape == (1, 32, 1000)
    assert scope["y_t"].shape == (1, 32, 1) and scope["y_c"].shape == (1, 32, 64)
    assert scope["logits"].shape == (2, 256, 4000)
    assert scope["audio"].shape == (4, 16000) and scope["audio"].abs().max() <= 1.0
    # the values the comments claim
    checked = 0
    for line in code.splitlines():
        m = re.match(r"^(receptive_field\(.*\)|gridding\(.*\)\.\w+)\s+# (.*)$", line)
        if m:
            assert repr(eval(m.group(1), scope)) == m.group(2).strip()
            checked += 1
    assert checked == 3


def test_readme_names_the_ci_test_command():
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test,docs]' && python -m pytest" in ci
    assert "pip install -e '.[test,docs]' && python -m pytest" in README.read_text()
    assert "mkdocs build --strict" in ci
