"""Episodes in one on-disk layout for every source (Ctrl-World's): reading, writing, clips.

Layout of a dataset root::

    annotation/<split>/<episode_id>.json
    videos/<split>/<episode_id>/{0,1,2}.mp4    0, 1 = external cameras, 2 = wrist; 5 Hz
    stat.json                                  1st / 99th percentile of the 7-D state
"""

import importlib
from typing import Any

# Exports resolve on first use, so that simulator worker processes, which only write episodes,
# do not pay for importing torch (about a second and a few hundred MB each).
_EXPORTS = {
    "Clip": "clips",
    "ClipBatch": "clips",
    "ClipConfig": "clips",
    "ClipId": "clips",
    "ClipSampler": "clips",
    "FrameCache": "clips",
    "EpisodeDataset": "reader",
    "EpisodeMeta": "episode",
    "EpisodeWriter": "writer",
    "StateStats": "stats",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'persistworld.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"persistworld.data.{_EXPORTS[name]}"), name)
