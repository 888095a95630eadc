"""Clip indices against hand-computed ones, clip contents against the episode, and the frame cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from persistworld.data.clips import (
    ClipConfig,
    ClipId,
    ClipSampler,
    FrameCache,
    clip_frame_indices,
    clip_starts,
)
from persistworld.data.reader import EpisodeDataset

CTRL_WORLD_HISTORY = (0, 0, -28, -20, -12, -4)


@pytest.mark.parametrize(
    ("current", "history", "future", "is_pad"),
    [
        # Ctrl-World replay slots [0, 0, -8, -6, -4, -2] of a 4-frame buffer at frame 30
        (30, [0, 0, 2, 10, 18, 26], [31, 32, 33, 34], [False] * 4),
        # early in an episode everything before the start clamps to frame 0
        (10, [0, 0, 0, 0, 0, 6], [11, 12, 13, 14], [False] * 4),
        (0, [0, 0, 0, 0, 0, 0], [1, 2, 3, 4], [False] * 4),
        # near the end of a 56-frame episode future frames clamp to the last one and are flagged
        (53, [0, 0, 25, 33, 41, 49], [54, 55, 55, 55], [False, False, True, True]),
    ],
)
def test_clip_indices_match_hand_computed(current, history, future, is_pad):
    indices = clip_frame_indices(ClipConfig(history=CTRL_WORLD_HISTORY), current, video_length=56)
    assert indices.history.tolist() == history
    assert indices.current == current
    assert indices.future.tolist() == future
    assert indices.future_is_pad.tolist() == is_pad


def test_absolute_history_never_reaches_past_the_current_frame():
    indices = clip_frame_indices(ClipConfig(history=(5, -1), num_future=2, frame_stride=2), current=3, video_length=20)
    assert indices.history.tolist() == [3, 2]
    assert indices.future.tolist() == [5, 7]


def test_clip_starts_with_and_without_padding():
    assert clip_starts(ClipConfig(num_future=4, frame_stride=2), 20) == range(0, 12)  # 11 + 8 = 19
    assert clip_starts(ClipConfig(num_future=4, frame_stride=2, allow_padding=True), 20) == range(0, 18)
    assert len(clip_starts(ClipConfig(num_future=4), 3)) == 0


def test_clip_content_equals_the_episode_frames_and_states(droid_mini: Path):
    dataset = EpisodeDataset(droid_mini, "train", resolution=(24, 40))
    sampler = ClipSampler(dataset, ClipConfig(history=CTRL_WORLD_HISTORY, num_future=4, frame_stride=2))
    assert len(sampler) == 56 - 8  # every start whose 4 future frames (stride 2) fit
    frames = dataset.load_frames("0")
    states = dataset.normalized_states("0")
    clip = sampler.get(ClipId("train", "0", 30))

    def as_tensor(array):
        return torch.from_numpy(array).movedim(-1, -3).float() / 127.5 - 1

    torch.testing.assert_close(clip.current, as_tensor(frames[30]))
    torch.testing.assert_close(clip.future, as_tensor(frames[[32, 34, 36, 38]]))
    torch.testing.assert_close(clip.history, as_tensor(frames[[0, 0, 2, 10, 18, 26]]))
    torch.testing.assert_close(clip.actions, torch.from_numpy(states[[30, 32, 34, 36, 38]]))
    torch.testing.assert_close(clip.history_actions, torch.from_numpy(states[[0, 0, 2, 10, 18, 26]]))
    assert clip.current.shape == (3, 3, 24, 40)
    assert clip.current.min() >= -1 and clip.current.max() <= 1


def test_batches_are_stacked_clips_and_sampling_is_seeded(droid_mini: Path):
    sampler = ClipSampler(EpisodeDataset(droid_mini, "val", resolution=(24, 40)), ClipConfig())
    batch = sampler.sample(5, np.random.default_rng(3))
    again = sampler.sample(5, np.random.default_rng(3))
    assert batch.clip_ids == again.clip_ids
    assert batch.future.shape == (5, 4, 3, 3, 24, 40)
    assert batch.history.shape == (5, 4, 3, 3, 24, 40)
    assert batch.actions.shape == (5, 5, 7) and batch.history_actions.shape == (5, 4, 7)
    torch.testing.assert_close(batch.future[2], sampler.get(batch.clip_ids[2]).future)
    assert batch.texts == ["Move the green towel to the right of the lid"] * 5
    assert batch.to("cpu").future.device.type == "cpu"


def test_cache_serves_identical_frames_and_counts_hits(droid_mini: Path):
    dataset = EpisodeDataset(droid_mini, "val", resolution=(24, 40))
    cold = ClipSampler(dataset, ClipConfig(), cache=FrameCache(max_bytes=0))
    warm = ClipSampler(dataset, ClipConfig(), cache=FrameCache())
    ids = cold.clip_ids[:4]
    torch.testing.assert_close(cold.batch(ids).future, warm.batch(ids).future)
    assert cold.cache.hits == 0 and cold.cache.misses == 4
    assert warm.cache.misses == 1 and warm.cache.hits == 3


def test_cache_evicts_least_recently_used(droid_mini: Path):
    train = EpisodeDataset(droid_mini, "train", resolution=(24, 40))
    val = EpisodeDataset(droid_mini, "val", resolution=(24, 40))
    one_episode = train.load_frames("0").nbytes
    cache = FrameCache(max_bytes=one_episode + 10)
    cache.frames(train, "0")
    cache.frames(val, "199")  # evicts train/0
    cache.frames(train, "0")
    assert cache.misses == 3 and cache.nbytes <= cache.max_bytes


def test_episodes_too_short_for_any_clip_are_a_clear_error(droid_mini: Path):
    with pytest.raises(ValueError, match="no episode is long enough"):
        ClipSampler(EpisodeDataset(droid_mini, "val"), ClipConfig(num_future=20, frame_stride=2))
