"""Files shipped inside the package: the teacher-forced `demo` baseline checkpoint and its provenance.

The demo's world model would take more than an hour of CPU to train, longer than the demo can
afford, so the package ships the checkpoint that `persistworld pretrain --config
configs/baseline_demo.yaml` made (see ``baseline_demo/PROVENANCE.md`` for the exact command, seed,
data and held-out numbers). Nothing is downloaded at run time.
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent
BASELINE_DEMO = ASSETS / "baseline_demo" / "model.pt"


def shipped_baseline() -> Path | None:
    """The shipped `demo` baseline checkpoint, or None if this installation does not include it."""
    return BASELINE_DEMO if BASELINE_DEMO.is_file() else None
