"""The README's two commands stay runnable and `.ci/run` runs exactly the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .+?)\n```", readme)


def test_readme_starts_with_the_demo_and_the_test_command():
    demo, tests = _readme_commands()[:2]
    assert demo.endswith("persistworld demo")
    assert "pytest" in tests


def test_ci_runs_exactly_the_readme_test_command():
    test_command = _readme_commands()[1]
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines
