"""The project's own promises: README's test command is exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, flags=re.S)


def test_ci_runs_the_readme_test_command() -> None:
    blocks = _readme_commands()
    test_cmds = [line for b in blocks for line in b.splitlines() if "pytest" in line]
    assert test_cmds, "README has no test command"
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmds[0].strip() in ci.splitlines()


def test_ci_runs_lint_format_and_types() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    for cmd in ("ruff check .", "ruff format --check .", "mypy"):
        assert cmd in lines
    assert "set -euo pipefail" in lines
