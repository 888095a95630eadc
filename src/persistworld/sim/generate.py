"""Generate simulator datasets: deterministic per seed, parallel, resumable, split by seed range.

The episode id *is* its seed, and each split owns a seed range (`SimConfig.split_seeds`), so the
same config always yields the same episodes, and val/test never overlap train. The task of an
episode is ``tasks[seed % len(tasks)]``, which balances tasks within every split.

Workers are separate processes (``spawn``: EGL contexts do not survive ``fork``), each holding one
`SimScene` per robosuite environment and rendering with a single llvmpipe thread, so that two
workers use two cores. Finished episodes are skipped, so a killed run continues where it stopped.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from persistworld.data.layout import FPS
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


def _initial_object_positions(config: SimConfig, env_name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Random xy for each object on the table, at least 7 cm apart."""
    extent = config.scene.object_range
    count = 1 if env_name == "Lift" else 2
    while True:
        positions = [rng.uniform(-extent, extent, size=2) for _ in range(count)]
        if count == 1 or np.linalg.norm(positions[0] - positions[1]) > 0.07:
            return positions


def record_episode(scene: SimScene, config: SimConfig, seed: int) -> SimEpisode:
    """Run the scripted policy of the seed's task in `scene` and record 3 views and states at 5 Hz."""
    task = config.task_of(seed)
    rng = np.random.default_rng(seed)
    scene.reset(rng, _initial_object_positions(config, scene.env_name, rng))
    plan = PLANNERS[task](scene, rng, config.noise)
    steps_per_frame = config.control_freq // FPS
    total_steps = (config.num_frames - 1) * steps_per_frame
    plan_steps = sum(w.steps for w in plan.waypoints)
    waypoints = plan.waypoints + wander(scene, rng, plan.waypoints[-1], total_steps - plan_steps)
    schedule = [wp for wp in waypoints for _ in range(wp.steps)]

    frames, states = [scene.render()], [scene.state()]
    success = None
    for step in range(total_steps):
        scene.step(waypoint_action(scene, schedule[step], rng, config.noise))
        if step + 1 == plan_steps:  # judge the task when its plan ends, before the arm wanders off
            success = plan.success(scene)
        if (step + 1) % steps_per_frame == 0:
            frames.append(scene.render())
            states.append(scene.state())
    if success is None:  # the plan did not fit into the episode: judge what was reached
        success = plan.success(scene)
    return SimEpisode(seed, task, np.stack(frames), np.stack(states), bool(success))


# ---------------------------------------------------------------------------------- workers

_WORKER_SCENES: dict[str, SimScene] = {}


def _scene_for(config: SimConfig, task: str) -> SimScene:
    env_name = TASK_ENVS[task]
    if env_name not in _WORKER_SCENES:
        _WORKER_SCENES[env_name] = SimScene(env_name, config.scene, config.control_freq)
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
        jobs += [(split, seed) for seed in config.seeds(split) if not writer.exists(seed)]
    return jobs


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
