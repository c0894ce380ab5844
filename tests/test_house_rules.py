"""The house rules the test command enforces on the whole tree: who may import whom, lint, format
and types. Each tool runs from the venv the tests run in, with its configuration in pyproject.toml,
exactly as `.ci/run` and the pre-commit hooks run it; a failure shows the tool's own report."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

HOUSE_RULES = {
    "import layers": ["lint-imports"],
    "ruff lint": ["ruff", "check", "."],
    "ruff format": ["ruff", "format", "--check", "."],
    # The files and the strictness are in [tool.mypy]; its cache in the venv makes a second run cheap.
    "mypy": ["mypy"],
}


@pytest.mark.parametrize("command", HOUSE_RULES.values(), ids=HOUSE_RULES.keys())
def test_house_rule(command: list[str]) -> None:
    tool = VENV_BIN / command[0]
    assert tool.exists(), f"{command[0]} is not installed next to this Python; pip install -e '.[test]'"
    ran = subprocess.run([str(tool), *command[1:]], cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert ran.returncode == 0, f"`{' '.join(command)}` failed (exit code {ran.returncode}):\n{ran.stdout}{ran.stderr}"


# `# type: ignore[code]  # why`: mypy checks the code (ignore-without-code); the reason is ours.
_IGNORE_WITHOUT_REASON = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?(?![\[\w])(?!\s*#\s*\S)")


def test_every_type_ignore_says_why_on_its_line() -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in ("bot", "storage", "handlers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _IGNORE_WITHOUT_REASON.search(line)
    ]
    assert not bare, "a type: ignore without its reason after it on the same line:\n" + "\n".join(bare)
