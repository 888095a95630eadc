"""Every command option, `--set` override and `--config` file that the README and docs show is one the CLI accepts.

Why: results and recipes in the docs are commands a reader copies. A renamed config key would make
them fail with "unknown config key" while the docs still look right; this test fails first.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from persistworld.cli import app
from persistworld.cli.common import load_config

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_SHELL_ARITHMETIC = re.compile(r"\$\(\(.*?\)\)")  # $((8 * N))
_SHELL_VARIABLE = re.compile(r"\$\{?\w+\}?")  # $s, ${seed}
_OVERRIDE = re.compile(r"--set\s+(\"[^\"]*\"|'[^']*'|[^\s`|)]+)")
_CONFIG_FILE = re.compile(r"--config\s+(configs/[\w.-]+)")
_PLACEHOLDERS = ("key=value", "=...")  # prose that names the syntax, not a setting
_COMMAND = re.compile(r"persistworld ((?:[a-z][\w-]* ?){1,2})([^`\n;&|]*)")  # up to the end of the command
_OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _logical_lines(doc: Path) -> list[tuple[int, str]]:
    """The doc's lines with backslash continuations joined, each with the number of its first line."""
    joined: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, line in enumerate(doc.read_text().splitlines(), 1):
        start, text = pending if pending else (number, "")
        text += " " + line.rstrip("\\")
        pending = (start, text) if line.endswith("\\") else None
        if pending is None:
            joined.append((start, text))
    return joined


def _shown(pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """What `pattern` captures in the docs' lines (shell variables set to 1), with where it was seen."""
    found: dict[str, list[str]] = {}
    for doc in DOCS:
        for number, line in _logical_lines(doc):
            line = _SHELL_VARIABLE.sub("1", _SHELL_ARITHMETIC.sub("1", line))
            for match in pattern.finditer(line):
                found.setdefault(match.group(1).strip("\"'"), []).append(f"{doc.relative_to(REPO)}:{number}")
    return found


OVERRIDES = {o: where for o, where in _shown(_OVERRIDE).items() if not o.endswith(_PLACEHOLDERS)}
CONFIG_FILES = _shown(_CONFIG_FILE)


def test_the_docs_show_overrides_and_config_files():
    """Guards the patterns: if they stopped matching, the tests below would check nothing."""
    assert "posttrain.probe_guard=0.002" in OVERRIDES
    assert "posttrain.reward.view_weights=[0.5,0.5,1.0]" in OVERRIDES
    assert "configs/droid.yaml" in CONFIG_FILES
    assert len(OVERRIDES) >= 20


@pytest.mark.parametrize("override", sorted(OVERRIDES))
def test_every_override_in_the_docs_is_accepted(override: str):
    try:
        load_config("demo", None, [override])
    except Exception as exc:
        pytest.fail(f"`--set {override}` (shown at {', '.join(OVERRIDES[override])}) is refused: {exc}")


@pytest.mark.parametrize("config_file", sorted(CONFIG_FILES))
def test_every_config_file_in_the_docs_exists_and_loads(config_file: str):
    path = REPO / config_file
    assert path.is_file(), f"{config_file} (shown at {', '.join(CONFIG_FILES[config_file])}) does not exist"
    load_config("demo", path, None)


def _shown_commands() -> list[tuple[str, str, list[str], set[str]]]:
    """(where, the command as written, the options written after it, the options it accepts) for each
    `persistworld ...` command in the docs."""
    root = typer.main.get_command(app)
    shown = []
    for doc in DOCS:
        for number, line in _logical_lines(doc):
            for match in _COMMAND.finditer(line):
                command, path = root, []
                for word in match.group(1).split():
                    if not hasattr(command, "commands") or word not in command.commands:
                        break
                    command, path = command.commands[word], [*path, word]
                if hasattr(command, "commands"):  # `persistworld` or `persistworld data` in prose
                    continue
                rest = " ".join(match.group(1).split()[len(path) :]) + " " + match.group(2)
                accepted = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
                shown.append(
                    (f"{doc.name}:{number}", " ".join(["persistworld", *path]), _OPTION.findall(rest), accepted)
                )
    return shown


def test_every_command_option_in_the_docs_exists():
    shown = _shown_commands()
    assert len(shown) >= 30 and any(
        name == "persistworld posttrain" and "--resume" in opts for _, name, opts, _ in shown
    )
    unknown = [
        f"{where}: {name} {opt}" for where, name, written, accepted in shown for opt in written if opt not in accepted
    ]
    assert not unknown, "options the CLI does not have:\n" + "\n".join(unknown)
