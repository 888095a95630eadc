"""Generate simulator datasets: deterministic per seed, parallel, resumable, split by seed range.

The episode id *is* its seed, and each split owns a seed range (`SimConfig.split_seeds`), so the
same config always yields the same episodes, and val/test never overlap train. The task of an
episode is ``tasks[seed % len(tasks)]``, which balances tasks within every split.

Workers are separate processes (``spawn``: EGL contexts do not survive ``fork``), each holding one
`SimScene` per robosuite environment and rendering with a single llvmpipe thread, so that two
workers use two cores. Finished episodes are skipped, so a killed run continues where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from persistworld.data.layout import FPS, annotation_path
from persistworld.data.reader import EpisodeDataset
from persistworld.data.stats import StateStats
from persistworld.data.writer import EpisodeWriter
from persistworld.sim.policies import PLANNERS, PolicyNoise, wander, waypoint_action
from persistworld.sim.scene import TASK_ENVS, SceneConfig, SimScene


@dataclass
class SimConfig:
    """What `persistworld data sim` generates."""

    # Tasks, assigned round-robin by seed. Available: lift, stack, push, place.
    tasks: tuple[str, ...] = ("lift", "stack", "push", "place")
    # Episodes per split.
    episodes: dict[str, int] = field(default_factory=lambda: {"train": 48, "val": 8, "test": 32})
    # First seed (= episode id) of each split; a split's seeds are first .. first + episodes - 1.
    split_seeds: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 100_000, "test": 200_000})
    # Frames per episode at 5 Hz (64 frames = 12.8 s).
    num_frames: int = 64
    # Controller rate (Hz); must be a multiple of the 5 Hz frame rate.
    control_freq: int = 20
    # Parallel worker processes.
    workers: int = 2
    # x264 quality of the stored videos (lower is better).
    crf: int = 15
    # Also record each view's segmentation (robot, objects) for the region metrics; costs about 35 % more
    # generation time (one more render per view and frame), so it is opt-in. With it on, an existing
    # episode without it is generated again (bit-identical frames: the episode depends only on its seed).
    segmentation: bool = False
    scene: SceneConfig = field(default_factory=SceneConfig)
    noise: PolicyNoise = field(default_factory=PolicyNoise)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.tasks) - set(PLANNERS))
        if unknown or not self.tasks:
            raise ValueError(f"`tasks` must be a non-empty subset of {sorted(PLANNERS)}. Got {list(self.tasks)}.")
        missing = sorted(set(self.episodes) - set(self.split_seeds))
        if missing:
            raise ValueError(f"splits {missing} in `episodes` have no first seed in `split_seeds`.")
        if self.control_freq % FPS:
            raise ValueError(f"`control_freq` must be a multiple of {FPS} Hz. Got {self.control_freq}.")
        if self.num_frames < 2:
            raise ValueError(f"`num_frames` must be >= 2. Got {self.num_frames}.")
        if self.workers < 1:
            raise ValueError(f"`workers` must be >= 1. Got {self.workers}.")

    def task_of(self, seed: int) -> str:
        """Task of the episode with this seed."""
        return self.tasks[seed % len(self.tasks)]

    def seeds(self, split: str) -> range:
        """Seeds (= episode ids) of a split."""
        return range(self.split_seeds[split], self.split_seeds[split] + self.episodes[split])


@dataclass
class SimEpisode:
    """A recorded episode, before it is written."""

    seed: int
    task: str
    frames: np.ndarray  # (T, 3, H, W, 3) uint8
    states: np.ndarray  # (T, 7)
    success: bool
    segmentation: np.ndarray | None = None  # (T, 3, H, W) uint8 labels


def _initial_object_positions(config: SimConfig, env_name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Random xy for each object on the table, at least 7 cm apart."""
    extent = config.scene.object_range
    count = 1 if env_name == "Lift" else 2
    while True:
        positions = [rng.uniform(-extent, extent, size=2) for _ in range(count)]
        if count == 1 or np.linalg.norm(positions[0] - positions[1]) > 0.07:
            return positions


class ScriptedEpisode:
    """A scripted episode in progress: the scene is reset and planned at construction, then advanced.

    `record_episode` advances it to the end; `persistworld.sim.in_the_loop.ScriptedSimPolicy` advances it
    a clip at a time, in a world model's loop. Every random draw comes from the episode's generator,
    in the same order either way, so both give the same states and frames for the same seed.

    Args:
        scene: A scene for the seed's task (`TASK_ENVS`).
        config: Episode length, noise, look.
        seed: Episode seed (= episode id): fixes the scene, and the plan unless `policy_seed` is given.
        policy_seed: If given, the plan and the action noise come from this seed instead: the same
            scene, another attempt at the task (a trajectory that no dataset episode holds).
    """

    def __init__(
        self, scene: SimScene, config: SimConfig, seed: int, policy_seed: int | None = None, *, segment: bool = False
    ):
        self.scene, self.seed, self.task = scene, seed, config.task_of(seed)
        rng = np.random.default_rng(seed)
        scene.reset(rng, _initial_object_positions(config, scene.env_name, rng))
        self._rng = rng if policy_seed is None else np.random.default_rng([seed, policy_seed])
        self._noise = config.noise
        self._plan = PLANNERS[self.task](scene, self._rng, config.noise)
        self._steps_per_frame = config.control_freq // FPS
        total_steps = (config.num_frames - 1) * self._steps_per_frame
        self._plan_steps = sum(w.steps for w in self._plan.waypoints)
        tail = wander(scene, self._rng, self._plan.waypoints[-1], total_steps - self._plan_steps)
        self._schedule = [wp for wp in self._plan.waypoints + tail for _ in range(wp.steps)]
        self._step, self._total_steps = 0, total_steps
        self.frames, self.states = [scene.render()], [scene.state()]
        self.segment = segment
        self.labels = [scene.segment()] if segment else []
        self._success: bool | None = None

    @property
    def frames_left(self) -> int:
        """Frames that can still be recorded (the episode is `config.num_frames` long)."""
        return (self._total_steps - self._step) // self._steps_per_frame

    def advance(self, num_frames: int) -> None:
        """Run the scripted controller for `num_frames` frames (5 Hz), recording views and states."""
        if num_frames > self.frames_left:
            raise ValueError(f"episode {self.seed} has {self.frames_left} frames left; asked for {num_frames}.")
        for _ in range(num_frames * self._steps_per_frame):
            self.scene.step(waypoint_action(self.scene, self._schedule[self._step], self._rng, self._noise))
            self._step += 1
            if self._step == self._plan_steps:  # judge the task when its plan ends, before the arm wanders off
                self._success = self._plan.success(self.scene)
            if self._step % self._steps_per_frame == 0:
                self.frames.append(self.scene.render())
                self.states.append(self.scene.state())
                if self.segment:
                    self.labels.append(self.scene.segment())

    def result(self) -> SimEpisode:
        """The episode so far; success is judged at the end of the plan (or now, if the plan is longer)."""
        success = self._success if self._success is not None else self._plan.success(self.scene)
        labels = np.stack(self.labels) if self.segment else None
        return SimEpisode(self.seed, self.task, np.stack(self.frames), np.stack(self.states), bool(success), labels)


def record_episode(scene: SimScene, config: SimConfig, seed: int) -> SimEpisode:
    """Run the scripted policy of the seed's task in `scene` and record 3 views and states at 5 Hz."""
    episode = ScriptedEpisode(scene, config, seed, segment=config.segmentation)
    episode.advance(episode.frames_left)
    return episode.result()


# ---------------------------------------------------------------------------------- workers

_WORKER_SCENES: dict[str, SimScene] = {}


def new_scene(config: SimConfig, task: str) -> SimScene:
    """A fresh scene for `task`, looking and stepping as `config` says."""
    return SimScene(TASK_ENVS[task], config.scene, config.control_freq)


def _scene_for(config: SimConfig, task: str) -> SimScene:
    env_name = TASK_ENVS[task]
    if env_name not in _WORKER_SCENES:
        _WORKER_SCENES[env_name] = new_scene(config, task)
    return _WORKER_SCENES[env_name]


def generate_and_write(root: Path, split: str, seed: int, config: SimConfig) -> dict:
    """Record one episode and write it; runs inside a worker process. Returns a summary row."""
    start = time.perf_counter()
    episode = record_episode(_scene_for(config, config.task_of(seed)), config, seed)
    EpisodeWriter(root, split, crf=config.crf).write(
        seed,
        episode.frames,
        episode.states,
        texts=[f"{episode.task} (simulated)"],
        success=episode.success,
        extra={"task": episode.task, "seed": seed, "source": "robosuite-1.5.2 Panda"},
        segmentation=episode.segmentation,
    )
    return {
        "split": split,
        "seed": seed,
        "task": episode.task,
        "success": episode.success,
        "frames": len(episode.frames),
        "seconds": time.perf_counter() - start,
    }


def _generate_star(args: tuple) -> dict:
    return generate_and_write(*args)


def pending_jobs(root: Path, config: SimConfig) -> list[tuple[str, int]]:
    """(split, seed) of every configured episode that is not written yet."""
    jobs = []
    for split in config.episodes:
        writer = EpisodeWriter(root, split)
        jobs += [(split, seed) for seed in config.seeds(split) if not _complete(writer, seed, config)]
    return jobs


def _complete(writer: EpisodeWriter, seed: int, config: SimConfig) -> bool:
    """Whether the episode is written, with segmentation if the config asks for it."""
    if not writer.exists(seed):
        return False
    if not config.segmentation:
        return True
    return "segmentation" in json.loads(annotation_path(writer.root, writer.split, str(seed)).read_text())


def run_generation(root: str | Path, config: SimConfig) -> Iterator[dict]:
    """Generate every missing episode, yielding a summary row per finished episode.

    Episodes already on disk are skipped. At the end ``stat.json`` is (re)computed from the states
    of the train split (see `write_stats`).
    """
    root = Path(root)
    jobs = [(root, split, seed, config) for split, seed in pending_jobs(root, config)]
    if config.workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield generate_and_write(*job)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes=min(config.workers, len(jobs))) as pool:
            yield from pool.imap_unordered(_generate_star, jobs)
    write_stats(root, config)


def write_stats(root: Path, config: SimConfig) -> None:
    """Write ``stat.json`` from the train split (or, without one, from every configured split)."""
    splits = ["train"] if config.episodes.get("train") else list(config.episodes)
    states = []
    for split in splits:
        if (root / "annotation" / split).is_dir():
            states += [m.states for m in EpisodeDataset(root, split).metas()]
    if states:
        StateStats.from_states(states).save(root / "stat.json")
