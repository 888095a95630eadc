"""The robosuite scene: a Franka Panda at a table, two external cameras and the wrist camera.

One `SimScene` wraps one robosuite environment and is reused for many episodes (building one costs
seconds). Every episode sets *all* randomised properties explicitly from its own random generator,
so an episode depends only on its seed, never on the episodes generated before it in the process.

Rendering goes through MuJoCo's EGL offscreen context (``MUJOCO_GL=egl``, set here by default).
Reflections, multi-sampling and, by default, shadows are off: on a software (llvmpipe) renderer
they cost 3-4x the time of the rest of the frame.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
os.environ.setdefault("LP_NUM_THREADS", "1")  # one llvmpipe thread per worker process: workers scale

import contextlib  # noqa: E402
import functools  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402

from persistworld.data.layout import OBJECT_LABELS, ROBOT_LABEL  # noqa: E402
from persistworld.utils.deps import require_package  # noqa: E402

#: Robosuite environment that provides the objects of each task.
TASK_ENVS: dict[str, str] = {"lift": "Lift", "push": "Lift", "stack": "Stack", "place": "Stack"}

#: Materials whose texture and tint are randomised per episode.
_RANDOMISED_MATERIALS = ("table_ceramic", "floorplane", "walls_mat")
_OBJECT_MATERIALS = {"Lift": ("cube_redwood_mat",), "Stack": ("cubeA_redwood_mat", "cubeB_greenwood_mat")}
_OBJECT_BODIES = {"Lift": ("cube",), "Stack": ("cubeA", "cubeB")}


def _load_torch_compiler_before_mesa() -> None:
    """In a process that uses torch, import torch's compiler stack before the first EGL context.

    Why: Mesa's llvmpipe (the CPU OpenGL driver) loads its LLVM into the process. If triton (loaded by
    ``torch._dynamo``, which ``torch.optim`` and ``torch.compile`` import on first use) loads its own
    LLVM *after* that, the process segfaults: rendering a scene and then creating an AdamW optimizer
    crashed every time. In the other order both work. Simulator workers do not import torch and
    skip this.
    """
    if "torch" in sys.modules:
        with contextlib.suppress(ImportError):
            import torch._dynamo  # noqa: F401


def _quiet_robosuite_warnings() -> None:
    """Drop robosuite's warnings below ERROR, including the ones it logs while being imported.

    Why: importing robosuite warns that the GR1 robot's IK and the `robosuite_models` robots are
    unavailable, and every scene warns about controller parts a Panda does not have. None of it
    concerns this scene, and each simulator worker process printed it again. robosuite sets its
    logger's level when it is imported, after which those import-time warnings are already out, so
    this installs a filter (which robosuite leaves alone) before the first import.
    """
    logger = logging.getLogger("robosuite_logs")
    if not any(isinstance(f, _BelowErrorFilter) for f in logger.filters):
        logger.addFilter(_BelowErrorFilter())


class _BelowErrorFilter(logging.Filter):
    """Passes records of level ERROR and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@functools.cache
def _render_context_class() -> type:
    """Robosuite's offscreen render context, made safe for several scenes in one process.

    robosuite frees a context's MuJoCo GPU objects (``MjrContext.free``) in ``__del__`` *without*
    making its own GL context current first. With two scenes in a process, dropping one then deletes
    the textures and framebuffers of whichever scene rendered last (GL object ids are per context, so
    the same ids exist in both), and that scene renders garbage from then on. Reproduced with two
    scenes: after ``del`` of the idle one, 99% of the other's pixels changed. This subclass makes its
    own context current before freeing.
    """
    from robosuite.utils.binding_utils import MjRenderContextOffscreen

    class SceneRenderContext(MjRenderContextOffscreen):
        def __del__(self) -> None:
            try:
                self.gl_ctx.make_current()
            except Exception:  # at interpreter exit the EGL display is already terminated
                return  # and every GL object went with it: nothing left to free
            super().__del__()

    return SceneRenderContext


@dataclass
class CameraPose:
    """A camera placed by position and look-at target (world frame, metres) and vertical field of view."""

    position: tuple[float, float, float]
    target: tuple[float, float, float]
    fovy: float = 60.0


@dataclass
class SceneConfig:
    """How the scene looks and is rendered."""

    # Rendered (height, width) per view; the reader resizes to the model's resolution.
    image_size: tuple[int, int] = (96, 160)
    # External cameras, placed like DROID's: left and right in front of the robot, looking at the
    # workspace and the arm (world frame; the robot base is at x = -0.56, the table top at z = 0.8).
    external_1: CameraPose = field(default_factory=lambda: CameraPose((0.27, -0.50, 1.18), (-0.10, 0.02, 0.91), 55.0))
    external_2: CameraPose = field(default_factory=lambda: CameraPose((0.27, 0.50, 1.18), (-0.10, -0.02, 0.91), 55.0))
    # Per-episode jitter of the external cameras: position (m) and target (m), uniform +-.
    camera_jitter: float = 0.03
    # Shadows look better and cost about 4x the render time on a CPU renderer.
    shadows: bool = False
    # Half-extent (m) of the square on the table where objects are placed.
    object_range: float = 0.12


def look_at_quaternion(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MuJoCo camera quaternion (w, x, y, z) that looks from `position` at `target` with z up.

    A MuJoCo camera looks along its local -z axis with +y up in the image.
    """
    import mujoco

    forward = np.asarray(target, dtype=np.float64) - np.asarray(position, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    z_axis = -forward
    x_axis = np.cross([0.0, 0.0, 1.0], z_axis)
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(z_axis, x_axis)
    quaternion = np.zeros(4)
    mujoco.mju_mat2Quat(quaternion, np.stack([x_axis, y_axis, z_axis], axis=1).flatten())
    return quaternion


def rotation_to_euler_xyz(rotation: np.ndarray) -> np.ndarray:
    """Extrinsic xyz Euler angles (roll, pitch, yaw) of a rotation matrix, DROID's convention.

    ``R = Rz(yaw) Ry(pitch) Rx(roll)``, identical to ``scipy.spatial.transform.Rotation.as_euler("xyz")``.
    """
    roll = np.arctan2(rotation[2, 1], rotation[2, 2])
    pitch = -np.arcsin(np.clip(rotation[2, 0], -1.0, 1.0))
    yaw = np.arctan2(rotation[1, 0], rotation[0, 0])
    return np.array([roll, pitch, yaw])


class SimScene:
    """A reusable robosuite environment for one family of tasks (``Lift`` or ``Stack``).

    Args:
        env_name: Robosuite environment class name.
        config: Look of the scene.
        control_freq: Controller rate (Hz); frames are recorded at 5 Hz, every ``control_freq / 5`` steps.
    """

    CAMERAS = ("agentview", "sideview", "robot0_eye_in_hand")  # external_1, external_2, wrist

    def __init__(self, env_name: str, config: SceneConfig, control_freq: int = 20):
        _quiet_robosuite_warnings()
        suite = require_package("robosuite", extra="sim")
        _load_torch_compiler_before_mesa()
        import mujoco
        from robosuite.controllers import load_composite_controller_config

        self._mujoco = mujoco
        self.env_name = env_name
        self.config = config
        self.env = suite.make(
            env_name,
            robots="Panda",
            controller_configs=load_composite_controller_config(controller="BASIC"),
            has_renderer=False,
            has_offscreen_renderer=False,  # we attach our own, leaner render context below
            use_camera_obs=False,
            control_freq=control_freq,
            horizon=10**6,
            ignore_done=True,
            hard_reset=False,  # keep one model and render context for all episodes
            lite_physics=True,
            seed=0,
        )
        self.env.reset()
        model = self.env.sim.model._model
        self.model = model
        # A render buffer just big enough, without multi-sampling, and without reflections.
        height, width = config.image_size
        model.vis.global_.offwidth, model.vis.global_.offheight = max(width, 64), max(height, 64)
        model.vis.quality.offsamples = 0
        context = _render_context_class()(self.env.sim, device_id=-1)
        context.vopt.geomgroup[0] = 0  # hide collision meshes (robosuite's convention: group 0)
        context.vopt.geomgroup[1] = 1  # show visual meshes (group 1)
        self.env.sim._render_context_offscreen = context
        self._render_context = context
        flags = context.scn.flags
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
        self._defaults = {
            "mat_rgba": model.mat_rgba.copy(),
            "mat_texid": model.mat_texid.copy(),
            "light_pos": model.light_pos.copy(),
            "light_diffuse": model.light_diffuse.copy(),
        }
        robot = self.env.robots[0]
        self._eef_site = robot.eef_site_id["right"]
        base_body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, robot.robot_model.root_body)
        self._base_body = base_body
        self._object_bodies = [
            mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"{name}_main") for name in _OBJECT_BODIES[env_name]
        ]
        self._object_joints = [obj.joints[0] for obj in self._objects()]
        self._geom_labels = self._label_geoms()

    def _label_geoms(self) -> np.ndarray:
        """The segmentation label (`persistworld.data.layout.SEGMENT_LABELS`) of every geom of the model.

        The robot is every body of the arm and its gripper (robosuite prefixes them ``robot0_`` and
        ``gripper0_``); an object is its main body and everything below it.
        """
        mujoco, model = self._mujoco, self.model
        labels = np.zeros(model.ngeom, dtype=np.uint8)
        objects = {body: index for index, body in enumerate(self._object_bodies)}
        for geom in range(model.ngeom):
            body = int(model.geom_bodyid[geom])
            name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body) or ""
            if name.startswith(("robot0_", "gripper0_")):
                labels[geom] = ROBOT_LABEL
                continue
            while body > 0 and body not in objects:
                body = int(model.body_parentid[body])
            if body in objects:
                labels[geom] = OBJECT_LABELS[objects[body]]
        return labels

    def _objects(self) -> list:
        return [self.env.cube] if self.env_name == "Lift" else [self.env.cubeA, self.env.cubeB]

    def _name_id(self, kind: int, name: str) -> int:
        return self._mujoco.mj_name2id(self.model, kind, name)

    # ------------------------------------------------------------------ episode setup

    def reset(self, rng: np.random.Generator, object_positions: list[np.ndarray]) -> None:
        """Reset robot and objects and randomise the look of the scene, all from `rng`.

        Args:
            rng: The episode's generator (the only source of randomness).
            object_positions: xy (m, world frame) of each object on the table.
        """
        mujoco, model = self._mujoco, self.model
        self.env.rng = rng  # robosuite draws the initial joint noise from env.rng
        self.env.reset()
        model.mat_rgba[:] = self._defaults["mat_rgba"]
        model.mat_texid[:] = self._defaults["mat_texid"]
        model.light_pos[:] = self._defaults["light_pos"]
        model.light_diffuse[:] = self._defaults["light_diffuse"]
        model.light_castshadow[:] = int(self.config.shadows)

        textures = np.arange(1, model.ntex)
        rgb_role = int(mujoco.mjtTextureRole.mjTEXROLE_RGB)
        for name in _RANDOMISED_MATERIALS:
            material = self._name_id(mujoco.mjtObj.mjOBJ_MATERIAL, name)
            model.mat_texid[material, rgb_role] = rng.choice(textures)
            model.mat_rgba[material, :3] = rng.uniform(0.35, 1.0, size=3)
        for name in _OBJECT_MATERIALS[self.env_name]:
            material = self._name_id(mujoco.mjtObj.mjOBJ_MATERIAL, name)
            model.mat_rgba[material, :3] = rng.uniform(0.1, 1.0, size=3)
            if rng.random() < 0.5:  # plain colour instead of the wood texture
                model.mat_texid[material, rgb_role] = -1
        model.light_pos[:] += rng.uniform(-0.3, 0.3, size=model.light_pos.shape)
        model.light_diffuse[:] = np.clip(model.light_diffuse * rng.uniform(0.75, 1.15), 0.0, 1.0)

        for camera_name, pose in zip(self.CAMERAS[:2], (self.config.external_1, self.config.external_2), strict=False):
            camera = self._name_id(mujoco.mjtObj.mjOBJ_CAMERA, camera_name)
            jitter = self.config.camera_jitter
            position = np.asarray(pose.position) + rng.uniform(-jitter, jitter, size=3)
            target = np.asarray(pose.target) + rng.uniform(-jitter, jitter, size=3)
            model.cam_pos[camera] = position
            model.cam_quat[camera] = look_at_quaternion(position, target)
            model.cam_fovy[camera] = pose.fovy

        table_z = float(self.env.table_offset[2])
        for obj, joint, xy in zip(self._objects(), self._object_joints, object_positions, strict=False):
            half_height = float(obj.size[2]) if hasattr(obj, "size") else 0.02
            yaw = rng.uniform(0, 2 * np.pi)
            quaternion = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
            self.env.sim.data.set_joint_qpos(joint, np.concatenate([[xy[0], xy[1], table_z + half_height], quaternion]))
        self.env.sim.forward()

    # ------------------------------------------------------------------ stepping and observing

    def step(self, action: np.ndarray) -> None:
        """Apply one control step (OSC pose deltas in [-1, 1] + gripper command)."""
        self.env.step(action)

    def render(self) -> np.ndarray:
        """Render the 3 views, uint8 (3, H, W, 3) in view order (external 1, external 2, wrist)."""
        height, width = self.config.image_size
        sim = self.env.sim
        # robosuite's render does not make its GL context current; with two scenes in one process
        # (a worker holds a Lift and a Stack scene) the other scene's context would draw this one.
        self._render_context.gl_ctx.make_current()
        return np.stack([sim.render(camera_name=c, width=width, height=height)[::-1] for c in self.CAMERAS])

    def segment(self) -> np.ndarray:
        """Segmentation of the 3 views, uint8 (3, H, W): 0 background, 1 robot, 2 and 3 the objects.

        MuJoCo renders each geom in a colour that encodes its id (one more render pass per view).
        """
        height, width = self.config.image_size
        sim = self.env.sim
        self._render_context.gl_ctx.make_current()
        views = []
        for camera in self.CAMERAS:
            ids = sim.render(camera_name=camera, width=width, height=height, segmentation=True)[::-1]
            geoms = ids[..., 1]  # (objtype, objid) per pixel; -1 where no geom was drawn
            is_geom = ids[..., 0] == int(self._mujoco.mjtObj.mjOBJ_GEOM)
            views.append(np.where(is_geom, self._geom_labels[geoms.clip(0)], 0).astype(np.uint8))
        return np.stack(views)

    def eef_pose_world(self) -> tuple[np.ndarray, np.ndarray]:
        """End-effector position (3,) and rotation matrix (3, 3) in the world frame."""
        data = self.env.sim.data
        return data.site_xpos[self._eef_site].copy(), data.site_xmat[self._eef_site].reshape(3, 3).copy()

    def gripper_closure(self) -> float:
        """Gripper closure in [0, 1] (0 = fully open), like DROID's gripper_position."""
        robot = self.env.robots[0]
        qpos = self.env.sim.data.qpos[robot._ref_gripper_joint_pos_indexes["right"]]
        return float(np.clip(1.0 - (qpos[0] - qpos[1]) / 0.08, 0.0, 1.0))

    def state(self) -> np.ndarray:
        """The 7-D DROID-convention state: eef xyz and extrinsic xyz Euler in the robot base frame, gripper."""
        data = self.env.sim.data
        base_pos = data.xpos[self._base_body]
        base_rot = data.xmat[self._base_body].reshape(3, 3)
        position, rotation = self.eef_pose_world()
        local_position = base_rot.T @ (position - base_pos)
        local_rotation = base_rot.T @ rotation
        return np.concatenate([local_position, rotation_to_euler_xyz(local_rotation), [self.gripper_closure()]])

    def object_poses(self) -> list[tuple[np.ndarray, float]]:
        """Position (3,) and yaw (rad) of each object, world frame."""
        data = self.env.sim.data
        poses = []
        for body in self._object_bodies:
            rotation = data.xmat[body].reshape(3, 3)
            poses.append((data.xpos[body].copy(), float(np.arctan2(rotation[1, 0], rotation[0, 0]))))
        return poses

    @property
    def table_height(self) -> float:
        """Z of the table top (m, world frame)."""
        return float(self.env.table_offset[2])

    def close(self) -> None:
        """Release the renderer and the simulation."""
        self.env.close()
