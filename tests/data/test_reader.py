"""Reading episodes in the Ctrl-World layout: shapes, camera order, normalisation, both annotation variants."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from persistworld.data.layout import STATE_DIM
from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.data.video import read_video


def _check_every_episode(root: Path, resolution: tuple[int, int]) -> int:
    count = 0
    for split in ("train", "val"):
        dataset = EpisodeDataset(root, split, resolution=resolution)
        for episode_id in dataset.episode_ids:
            meta = dataset.meta(episode_id)
            frames = dataset.load_frames(episode_id)
            assert frames.shape == (meta.video_length, 3, *resolution, 3)
            assert frames.dtype == np.uint8
            assert meta.states.shape == (meta.video_length, STATE_DIM)
            # camera order: view k is the file k.mp4 of the annotation's `videos` list
            assert [p.name for p in meta.video_paths] == ["0.mp4", "1.mp4", "2.mp4"]
            wrist = read_video(root / "videos" / split / episode_id / "2.mp4", resolution)
            np.testing.assert_array_equal(frames[:, 2], wrist[: meta.video_length])
            normalized = dataset.normalized_states(episode_id)
            assert normalized.min() >= -1.0 and normalized.max() <= 1.0
            count += 1
    return count


@pytest.mark.droid_subset
def test_reads_every_episode_of_the_droid_subset(droid_subset: Path):
    assert _check_every_episode(droid_subset, (48, 80)) == 11


def test_reads_the_committed_fixture_at_native_resolution(droid_mini: Path):
    assert _check_every_episode(droid_mini, (192, 320)) == 2


def test_resize_on_load_keeps_the_picture(droid_mini: Path):
    full = EpisodeDataset(droid_mini, "val").load_frames("199").astype(np.float64)
    small = EpisodeDataset(droid_mini, "val", resolution=(48, 80)).load_frames("199").astype(np.float64)
    # area downscaling = mean over 4x4 blocks, up to rounding and chroma subsampling
    blocks = full.reshape(33, 3, 48, 4, 80, 4, 3).mean(axis=(3, 5))
    assert np.abs(blocks - small).mean() < 2.0


def test_external_views_differ_from_the_wrist_view(droid_mini: Path):
    frames = EpisodeDataset(droid_mini, "train", resolution=(48, 80)).load_frames("0").astype(np.float64)
    external_gap = np.abs(frames[:, 0] - frames[:, 1]).mean()
    assert external_gap > 5  # two different cameras, not one file read twice
    assert np.abs(frames[:, 0] - frames[:, 2]).mean() > 5


def test_normalisation_matches_ctrl_world_and_round_trips(droid_mini: Path):
    stats = StateStats.load(droid_mini / "stat.json")
    dataset = EpisodeDataset(droid_mini, "train")
    states = dataset.meta("0").states.astype(np.float64)
    expected = np.clip(2 * (states - stats.low) / (stats.high - stats.low + 1e-8) - 1, -1, 1)
    np.testing.assert_allclose(dataset.normalized_states("0"), expected, atol=1e-6)
    inside = np.clip(states, stats.low, stats.high)
    np.testing.assert_allclose(stats.denormalize(stats.normalize(states)), inside, atol=1e-5)
    # the gripper dimension of DROID's stats maps 0 (open) to -1
    assert stats.normalize(np.zeros((1, 7)))[0, 6] == pytest.approx(-1.0)


def test_stats_from_states_are_percentiles():
    rows = np.random.default_rng(0).normal(size=(1000, 7))
    stats = StateStats.from_states([rows[:500], rows[500:]])
    np.testing.assert_allclose(stats.low, np.percentile(rows, 1, axis=0))
    np.testing.assert_allclose(stats.high, np.percentile(rows, 99, axis=0))


def test_accepts_the_slim_annotation_variant(droid_mini_copy: Path):
    """droid_new_setup style: string id, no raw 15 Hz streams, no `videos`, empty texts, with joints."""
    source = droid_mini_copy / "annotation" / "val" / "199.json"
    full = json.loads(source.read_text())
    slim = {
        "texts": [],
        "episode_id": "lab_a_199",
        "success": 0,
        "video_length": full["video_length"],
        "states": full["states"],
        "joints": full["joints"],
    }
    (droid_mini_copy / "annotation" / "val" / "lab_a_199.json").write_text(json.dumps(slim))
    (droid_mini_copy / "videos" / "val" / "199").rename(droid_mini_copy / "videos" / "val" / "lab_a_199")
    source.unlink()
    dataset = EpisodeDataset(droid_mini_copy, "val", resolution=(24, 40))
    meta = dataset.meta("lab_a_199")
    assert meta.text == "" and meta.success is False
    assert meta.joints.shape == (33, 8)
    assert dataset.load_frames("lab_a_199").shape == (33, 3, 24, 40, 3)


def test_numeric_ids_sort_numerically(droid_subset: Path):
    assert EpisodeDataset(droid_subset, "val").episode_ids == ["199", "899", "1799", "18599"]
