"""Episodes in one on-disk layout for every source (Ctrl-World's): reading, writing, clips.

Layout of a dataset root::

    annotation/<split>/<episode_id>.json
    videos/<split>/<episode_id>/{0,1,2}.mp4    0, 1 = external cameras, 2 = wrist; 5 Hz
    stat.json                                  1st / 99th percentile of the 7-D state
"""

from persistworld.data.clips import Clip, ClipBatch, ClipConfig, ClipId, ClipSampler, FrameCache
from persistworld.data.episode import EpisodeMeta
from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.data.writer import EpisodeWriter

__all__ = [
    "Clip",
    "ClipBatch",
    "ClipConfig",
    "ClipId",
    "ClipSampler",
    "EpisodeDataset",
    "EpisodeMeta",
    "EpisodeWriter",
    "FrameCache",
    "StateStats",
]
