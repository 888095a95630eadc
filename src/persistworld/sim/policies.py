"""Scripted, noisy manipulation policies: waypoint plans followed by a proportional controller.

A task planner turns the object poses at the start of an episode into a list of `Waypoint`s (where
the gripper should go, how fast, open or closed). Noise enters in three places, all drawn from the
episode's generator: grasp/target offsets (occasionally large, which makes grasps miss and episodes
fail), segment durations, and per-step action noise. The plans succeed most of the time and fail
sometimes, so that episodes differ in interesting ways: objects move or stay, occlusions, contact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from persistworld.sim.scene import SimScene

GRIPPER_OPEN, GRIPPER_CLOSED = -1.0, 1.0
_APPROACH_HEIGHT = 0.12  # m above an object before descending
_OSC_MAX_DELTA = 0.05  # m per control step at action 1.0 (robosuite's OSC_POSE default output_max)
_OSC_MAX_ROTATION = 0.5  # rad per control step at action 1.0


@dataclass
class Waypoint:
    """A target for the end effector, held for `steps` control steps."""

    position: np.ndarray  # (3,) world frame, m
    gripper: float  # GRIPPER_OPEN or GRIPPER_CLOSED
    steps: int
    yaw: float | None = None  # finger-axis yaw to align with (rad, modulo pi/2), None: keep


@dataclass
class PolicyNoise:
    """Noise of the scripted policies."""

    # Std of the per-step Gaussian noise on the normalised translation action.
    action: float = 0.08
    # Std (m) of the offset of grasp and place targets.
    target: float = 0.005
    # Probability of a large target offset (typically a missed grasp or a failed place).
    blunder: float = 0.15
    # Size (m) of a blunder offset (a 4 cm cube is missed or grasped by its edge).
    blunder_offset: float = 0.04


@dataclass
class TaskPlan:
    """The waypoints of an episode and how to judge its success at the end."""

    waypoints: list[Waypoint]
    success: Callable[[SimScene], bool]


def _offset(rng: np.random.Generator, noise: PolicyNoise) -> np.ndarray:
    """Target offset in xy: small Gaussian, or with probability `blunder` a large one."""
    if rng.random() < noise.blunder:
        angle = rng.uniform(0, 2 * np.pi)
        return noise.blunder_offset * np.array([np.cos(angle), np.sin(angle), 0.0])
    return np.array([*rng.normal(0.0, noise.target, size=2), 0.0])


def _steps(rng: np.random.Generator, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _pick(rng: np.random.Generator, noise: PolicyNoise, position: np.ndarray, yaw: float) -> list[Waypoint]:
    """Approach an object from above, descend, close the gripper and lift it."""
    grasp = position + _offset(rng, noise) + np.array([0.0, 0.0, -0.005])
    above = grasp + np.array([0.0, 0.0, _APPROACH_HEIGHT])
    return [
        Waypoint(above, GRIPPER_OPEN, _steps(rng, 22, 34), yaw),
        Waypoint(grasp, GRIPPER_OPEN, _steps(rng, 14, 22), yaw),
        Waypoint(grasp, GRIPPER_CLOSED, _steps(rng, 8, 12), yaw),
        Waypoint(above + np.array([0.0, 0.0, 0.05]), GRIPPER_CLOSED, _steps(rng, 16, 24)),
    ]


def plan_lift(scene: SimScene, rng: np.random.Generator, noise: PolicyNoise) -> TaskPlan:
    """Pick the cube and lift it, then carry it to a random spot in the air."""
    ((cube, yaw),) = scene.object_poses()
    waypoints = _pick(rng, noise, cube, yaw)
    carry = cube + np.array([*rng.uniform(-0.08, 0.08, size=2), rng.uniform(0.15, 0.22)])
    waypoints.append(Waypoint(carry, GRIPPER_CLOSED, _steps(rng, 20, 30)))
    table = scene.table_height
    return TaskPlan(waypoints, lambda s: s.object_poses()[0][0][2] > table + 0.06)


def plan_push(scene: SimScene, rng: np.random.Generator, noise: PolicyNoise) -> TaskPlan:
    """Push the cube along the table in a random direction with the closed gripper."""
    ((cube, _),) = scene.object_poses()
    angle = rng.uniform(-np.pi, np.pi)
    direction = np.array([np.cos(angle), np.sin(angle), 0.0])
    distance = rng.uniform(0.08, 0.14)
    start = cube - 0.07 * direction + _offset(rng, noise) + np.array([0.0, 0.0, 0.0])
    start[2] = scene.table_height + 0.02
    end = start + (distance + 0.07 - 0.035) * direction
    waypoints = [
        Waypoint(start + np.array([0.0, 0.0, _APPROACH_HEIGHT]), GRIPPER_CLOSED, _steps(rng, 22, 34)),
        Waypoint(start, GRIPPER_CLOSED, _steps(rng, 14, 20)),
        Waypoint(end, GRIPPER_CLOSED, _steps(rng, 30, 45)),
        Waypoint(end + np.array([0.0, 0.0, _APPROACH_HEIGHT]), GRIPPER_CLOSED, _steps(rng, 14, 20)),
    ]
    initial = cube.copy()

    def success(s: SimScene) -> bool:
        moved = s.object_poses()[0][0] - initial
        return float(moved @ direction) > 0.6 * distance

    return TaskPlan(waypoints, success)


def _pick_and_release(
    scene: SimScene, rng: np.random.Generator, noise: PolicyNoise, target: np.ndarray
) -> list[Waypoint]:
    """Pick cube A, carry it above `target` (where its centre should end up), lower and release it."""
    (cube_a, yaw_a), _ = scene.object_poses()
    waypoints = _pick(rng, noise, cube_a, yaw_a)
    release = target + _offset(rng, noise) * 0.5
    waypoints += [
        Waypoint(release + np.array([0.0, 0.0, 0.10]), GRIPPER_CLOSED, _steps(rng, 24, 34)),
        Waypoint(release + np.array([0.0, 0.0, 0.01]), GRIPPER_CLOSED, _steps(rng, 14, 20)),
        Waypoint(release + np.array([0.0, 0.0, 0.01]), GRIPPER_OPEN, _steps(rng, 6, 10)),
        Waypoint(release + np.array([0.0, 0.0, 0.12]), GRIPPER_OPEN, _steps(rng, 12, 18)),
    ]
    return waypoints


def plan_stack(scene: SimScene, rng: np.random.Generator, noise: PolicyNoise) -> TaskPlan:
    """Put cube A on top of cube B."""
    _, (cube_b, _) = scene.object_poses()
    target = cube_b + np.array([0.0, 0.0, 0.045])  # B's half height + A's half height
    waypoints = _pick_and_release(scene, rng, noise, target)

    def success(s: SimScene) -> bool:
        (a, _), (b, _) = s.object_poses()
        return bool(np.linalg.norm(a[:2] - b[:2]) < 0.02 and a[2] > b[2] + 0.03)

    return TaskPlan(waypoints, success)


def plan_place(scene: SimScene, rng: np.random.Generator, noise: PolicyNoise) -> TaskPlan:
    """Move cube A to a random free spot on the table, away from cube B."""
    (cube_a, _), (cube_b, _) = scene.object_poses()
    for _ in range(100):
        target_xy = rng.uniform(-scene.config.object_range, scene.config.object_range, size=2)
        if np.linalg.norm(target_xy - cube_b[:2]) > 0.08 and np.linalg.norm(target_xy - cube_a[:2]) > 0.08:
            break
    target = np.array([target_xy[0], target_xy[1], cube_a[2]])
    waypoints = _pick_and_release(scene, rng, noise, target)
    return TaskPlan(waypoints, lambda s: bool(np.linalg.norm(s.object_poses()[0][0][:2] - target[:2]) < 0.03))


def wander(
    scene: SimScene, rng: np.random.Generator, last: Waypoint, steps: int, workspace: float = 0.15
) -> list[Waypoint]:
    """Random waypoints above the table that keep the gripper as it is, filling `steps` control steps.

    Without them the arm stands still once a plan is done, and long static tails teach a world model
    little about actions.
    """
    waypoints = []
    while steps > 0:
        duration = min(_steps(rng, 20, 36), steps)
        target = np.array([*rng.uniform(-workspace, workspace, size=2), scene.table_height + rng.uniform(0.12, 0.28)])
        waypoints.append(Waypoint(target, last.gripper, duration))
        steps -= duration
    return waypoints


PLANNERS: dict[str, Callable[[SimScene, np.random.Generator, PolicyNoise], TaskPlan]] = {
    "lift": plan_lift,
    "stack": plan_stack,
    "push": plan_push,
    "place": plan_place,
}


def _wrap_quarter_turn(angle: float) -> float:
    """Wrap an angle to [-pi/4, pi/4): a gripper aligned to a cube face modulo a quarter turn."""
    return (angle + np.pi / 4) % (np.pi / 2) - np.pi / 4


def waypoint_action(
    scene: SimScene, waypoint: Waypoint, rng: np.random.Generator, noise: PolicyNoise, gain: float = 0.6
) -> np.ndarray:
    """The OSC action that moves the end effector toward `waypoint`, with action noise.

    Returns:
        (7,) action: translation delta and rotation delta (normalised to [-1, 1]) and gripper command.
    """
    position, rotation = scene.eef_pose_world()
    action = np.zeros(7)
    action[:3] = gain * (waypoint.position - position) / _OSC_MAX_DELTA + rng.normal(0.0, noise.action, size=3)
    if waypoint.yaw is not None:
        finger_yaw = np.arctan2(rotation[1, 0], rotation[0, 0])
        action[5] = 0.5 * _wrap_quarter_turn(waypoint.yaw - finger_yaw) / _OSC_MAX_ROTATION
    action[:6] = np.clip(action[:6], -1.0, 1.0)
    action[6] = waypoint.gripper
    return action
