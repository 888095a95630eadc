"""Drift report: per-step, per-camera-group scores of a rollout, its teacher-forced twin and the copy baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel
from persistworld.data.clips import ClipConfig
from persistworld.models.sampler import SamplerConfig
from persistworld.rollout.engine import EpisodeTrack
from persistworld.rollout.report import drift_report, per_step_scores

CLIPS = ClipConfig(history=(0, -4, -2), num_future=2)


def track(seed: int, episode_id: str, length: int = 12) -> EpisodeTrack:
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(length, 3, 3, 16, 16, generator=g) * 2 - 1
    return EpisodeTrack(episode_id, frames, torch.rand(length, 7, generator=g) * 2 - 1)


def test_scores_are_per_step_and_per_camera_group():
    truth = torch.rand(2, 6, 3, 3, 16, 16) * 2 - 1  # 2 rows, 3 steps of 2 frames, 3 views
    predicted = truth.clone()
    predicted[1, 2:4, 2] = 0.0  # row 1, step 2, wrist view only
    scores = per_step_scores(predicted, truth, num_future=2)
    assert scores["ssim/external"].shape == (2, 3)
    np.testing.assert_allclose(scores["ssim/external"], 1.0, atol=1e-5)
    np.testing.assert_allclose(scores["psnr/external"], 100.0)  # PSNR of identical images is capped
    wrist = scores["psnr/wrist"]
    assert wrist[1, 1] < 20 and np.all(np.delete(wrist.ravel(), 4) == 100.0)


def test_drift_report_compares_like_with_like():
    tracks = [track(0, "a"), track(1, "b")]
    report = drift_report(GaussianWorldModel(), tracks, [1, 2], CLIPS, SamplerConfig(num_steps=3), num_steps=3, seed=4)
    # the first step sees the same ground-truth past whatever is fed back afterwards
    for metric in ("ssim/external", "psnr/wrist"):
        np.testing.assert_allclose(report.rollout[metric][:, 0], report.teacher_forced[metric][:, 0])
        # before the first clip, "the current frame" is the start frame: both copy baselines agree
        np.testing.assert_allclose(report.copy_current[metric][:, 0], report.copy_start[metric][:, 0])
    # later, copying the start frame is worse than copying each clip's own current frame
    assert (report.copy_start["psnr/external"][:, 1:] != report.copy_current["psnr/external"][:, 1:]).all()
    summary = report.summary()
    assert set(summary) == {"rollout", "teacher_forced", "copy_start", "copy_current"}
    assert len(summary["rollout"]["ssim/wrist"]) == 3
    expected = float(report.rollout["psnr/external"][:, 0].mean())
    assert summary["rollout"]["psnr/external"][0] == pytest.approx(expected, abs=1e-5)


def test_long_model_names_wrap_inside_the_video_label_instead_of_being_cut():
    from persistworld.rollout.video import _label

    label = _label("teacher-forced baseline", height=96)
    ink_rows = np.flatnonzero((label < 128).any(axis=(1, 2)))
    assert np.diff(ink_rows).max() > 1  # two lines of text, separated by white rows
    assert not (label[:, -4:] < 128).any()  # nothing runs off the right edge
