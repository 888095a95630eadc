"""The embedded robosuite simulator: recording, read-back, determinism per seed, resumable generation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("robosuite")

from persistworld.data.reader import EpisodeDataset  # noqa: E402
from persistworld.sim.generate import SimConfig, record_episode, run_generation  # noqa: E402
from persistworld.sim.scene import SceneConfig, SimScene, look_at_quaternion, rotation_to_euler_xyz  # noqa: E402


def small_config(**overrides) -> SimConfig:
    values = dict(
        tasks=("lift", "push"),  # both use robosuite's Lift scene: one scene per process
        episodes={"train": 2},
        num_frames=6,
        workers=1,
        scene=SceneConfig(image_size=(48, 80)),
    )
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture(scope="module")
def lift_scene():
    scene = SimScene("Lift", small_config().scene)
    yield scene
    scene.close()


def test_two_episodes_generate_and_read_back(tmp_path: Path):
    rows = list(run_generation(tmp_path, small_config()))
    assert sorted((r["seed"], r["task"]) for r in rows) == [(0, "lift"), (1, "push")]
    dataset = EpisodeDataset(tmp_path, "train")
    assert dataset.episode_ids == ["0", "1"]
    for episode_id, task in (("0", "lift"), ("1", "push")):
        meta = dataset.meta(episode_id)
        assert meta.extra["task"] == task and meta.video_length == 6
        frames = dataset.load_frames(episode_id)
        assert frames.shape == (6, 3, 48, 80, 3)
        assert frames.std() > 10  # a rendered scene, not a blank frame
        assert 0.0 <= meta.states[:, 6].min() and meta.states[:, 6].max() <= 1.0
    # robot base frame, as DROID: the gripper starts ~0.45 m in front of the base, above the table
    assert 0.3 < dataset.meta("0").states[0, 0] < 0.6
    assert (tmp_path / "stat.json").is_file() and dataset.stats.low.shape == (7,)
    # resumable: nothing left to do; a lost episode is regenerated alone
    assert list(run_generation(tmp_path, small_config())) == []
    (tmp_path / "annotation" / "train" / "1.json").unlink()
    assert [r["seed"] for r in run_generation(tmp_path, small_config())] == [1]


def test_episode_depends_only_on_its_seed(lift_scene: SimScene):
    config = small_config()
    first = record_episode(lift_scene, config, seed=5)
    record_episode(lift_scene, config, seed=4)  # another episode in between changes nothing
    again = record_episode(lift_scene, config, seed=5)
    np.testing.assert_array_equal(first.states, again.states)
    np.testing.assert_array_equal(first.frames, again.frames)
    other = record_episode(lift_scene, config, seed=9)
    assert not np.array_equal(first.frames[0], other.frames[0])  # different seed, different scene


def test_dropping_one_scene_leaves_another_scene_rendering_the_same(lift_scene: SimScene):
    """robosuite frees a scene's GPU objects on whatever GL context is current; ours frees its own."""
    import gc

    config = small_config()
    other = SimScene("Lift", config.scene)
    record_episode(other, config, seed=3)
    before = record_episode(lift_scene, config, seed=2).frames  # lift_scene's context is now current
    del other
    gc.collect()
    np.testing.assert_array_equal(record_episode(lift_scene, config, seed=2).frames, before)


def test_parallel_workers_write_the_same_bytes_as_one_process(tmp_path: Path):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    list(run_generation(serial, small_config()))
    list(run_generation(parallel, small_config(workers=2)))
    for seed in ("0", "1"):
        a, b = EpisodeDataset(serial, "train").meta(seed), EpisodeDataset(parallel, "train").meta(seed)
        np.testing.assert_array_equal(a.states, b.states)
        for view in range(3):
            if a.video_paths[view].read_bytes() != b.video_paths[view].read_bytes():
                pytest.fail(f"seed {seed} view {view}: videos differ; {describe_difference(serial, parallel, seed)}")


def describe_difference(root_a: Path, root_b: Path, episode_id: str) -> str:
    """Which (frame, view) differ, by how much and in how many pixels: tells rendering from encoding bugs."""
    frames_a, frames_b = (
        EpisodeDataset(root, "train").load_frames(episode_id).astype(int) for root in (root_a, root_b)
    )
    diff = np.abs(frames_a - frames_b).max(axis=-1)  # (T, V, H, W)
    frame_views = zip(*np.nonzero(diff.max(axis=(2, 3))), strict=True)
    changed = [(t, v, int(diff[t, v].max()), int((diff[t, v] > 0).sum())) for t, v in frame_views]
    return f"(frame, view, max diff, pixels) = {changed}"


def test_split_seed_ranges_do_not_overlap():
    config = SimConfig()
    ranges = [set(config.seeds(split)) for split in config.episodes]
    assert all(not (a & b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


def test_euler_convention_matches_scipy():
    from scipy.spatial.transform import Rotation

    rotations = Rotation.random(20, random_state=0)
    for rotation in rotations:
        np.testing.assert_allclose(rotation_to_euler_xyz(rotation.as_matrix()), rotation.as_euler("xyz"), atol=1e-9)


def test_look_at_points_the_camera_at_the_target():
    import mujoco

    position, target = np.array([0.3, -0.5, 1.2]), np.array([-0.1, 0.0, 0.9])
    matrix = np.zeros(9)
    mujoco.mju_quat2Mat(matrix, look_at_quaternion(position, target))
    viewing_direction = -matrix.reshape(3, 3)[:, 2]  # MuJoCo cameras look along -z
    expected = (target - position) / np.linalg.norm(target - position)
    np.testing.assert_allclose(viewing_direction, expected, atol=1e-9)


def test_a_process_that_renders_can_still_use_torch_optimizers():
    """Mesa's LLVM loaded before triton's segfaulted the process at the first AdamW (torch._dynamo import)."""
    script = (
        "import torch\n"
        "from persistworld.sim.scene import SceneConfig, SimScene\n"
        "SimScene('Lift', SceneConfig(image_size=(48, 80))).render()\n"
        "torch.optim.AdamW(torch.nn.Linear(2, 2).parameters())\n"
        "print('survived')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr[-2000:]


def test_building_a_scene_prints_no_robosuite_warnings():
    """robosuite's import-time warnings (robots this scene never builds) were printed by every worker."""
    script = (
        "from persistworld.sim.scene import SceneConfig, SimScene\nSimScene('Lift', SceneConfig(image_size=(48, 80)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[robosuite WARNING]" not in result.stdout + result.stderr
    bare = subprocess.run([sys.executable, "-c", "import robosuite"], capture_output=True, text=True, timeout=300)
    assert "[robosuite WARNING]" in bare.stderr, "robosuite no longer warns on import: this test checks nothing"


def test_segmentation_marks_the_robot_where_it_is_drawn_and_old_episodes_get_it_on_the_next_run(tmp_path: Path):
    from persistworld.data.layout import OBJECT_LABELS, ROBOT_LABEL

    without = small_config(episodes={"train": 1}, segmentation=False)
    list(run_generation(tmp_path, without))
    assert EpisodeDataset(tmp_path, "train").load_segmentation("0") is None
    before = EpisodeDataset(tmp_path, "train").load_frames("0")
    # an episode without segmentation is made again, bit for bit, now with labels
    assert [r["seed"] for r in run_generation(tmp_path, small_config(episodes={"train": 1}, segmentation=True))] == [0]
    dataset = EpisodeDataset(tmp_path, "train")
    labels, frames = dataset.load_segmentation("0"), dataset.load_frames("0")
    assert np.array_equal(frames, before)
    assert labels.shape == (6, 3, 48, 80) and labels.dtype == np.uint8
    for view in range(3):
        assert (labels[:, view] == ROBOT_LABEL).mean() > 0.02  # the arm (or, from the wrist, the fingers)
    assert (labels[:, :2] == OBJECT_LABELS[0]).any() and not (labels == OBJECT_LABELS[1]).any()  # Lift: one cube
    # the robot moves, the background does not: labelled robot pixels change more between frames
    change = np.abs(frames[1:].astype(int) - frames[:-1]).mean(-1)
    robot = labels[1:] == ROBOT_LABEL
    assert change[:, :2][robot[:, :2]].mean() > 3 * change[:, :2][~robot[:, :2]].mean()
    # the dataset's resolution resizes labels by nearest neighbour: still labels
    small = EpisodeDataset(tmp_path, "train", resolution=(24, 40)).load_segmentation("0")
    assert small.shape == (6, 3, 24, 40) and set(np.unique(small)) <= set(np.unique(labels))
