"""Tables in the docs that are rebuilt from committed results JSON: the doc must hold exactly what the script prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.scripts import run_script

REPO = Path(__file__).parents[1]
RESULTS = REPO / "docs" / "results"

#: (doc, script, arguments): the script's output must appear verbatim in the doc.
TABLES = [
    (
        "docs/experiments/action_following.md",
        "motion_table",
        [
            f"shipped baseline={RESULTS / 'motion_shipped_baseline.json'}",
            f"action map={RESULTS / 'motion_action_map.json'}",
        ],
    ),
    ("docs/experiments/action_following.md", "motion_table", ["--probe", str(RESULTS / "action_map_probe.json")]),
    (
        "docs/experiments/action_following.md",
        "motion_table",
        [
            "--verdict",
            f"shipped baseline={RESULTS / 'motion_shipped_baseline.json'}",
            f"action map={RESULTS / 'motion_action_map.json'}",
        ],
    ),
]


@pytest.mark.parametrize(("doc", "script", "arguments"), TABLES, ids=["motion", "probe", "verdict"])
def test_the_doc_holds_the_table_its_json_gives(doc: str, script: str, arguments: list[str]):
    printed = run_script(script, *arguments).strip()
    text = (REPO / doc).read_text()
    assert printed in text, f"{doc} does not hold the output of scripts/{script}.py; paste it again:\n{printed}"
