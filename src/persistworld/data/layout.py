"""Constants and paths of the Ctrl-World / DROID on-disk layout that every source shares."""

from __future__ import annotations

from pathlib import Path

#: Camera roles by view index. Views 0 and 1 are external cameras, view 2 is the wrist camera
#: (DROID: exterior_1_left, exterior_2_left, wrist_left).
VIEW_NAMES: tuple[str, ...] = ("external_1", "external_2", "wrist")
NUM_VIEWS = len(VIEW_NAMES)
EXTERNAL_VIEWS: tuple[int, ...] = (0, 1)
WRIST_VIEW = 2
#: The camera groups that metrics are reported for: the external cameras together, the wrist camera alone.
GROUPS: dict[str, tuple[int, ...]] = {"external": EXTERNAL_VIEWS, "wrist": (WRIST_VIEW,)}

#: A state/action row: end-effector position xyz (m), orientation as extrinsic xyz euler (rad),
#: gripper closure in [0, 1] (0 = open, as DROID's gripper_position).
STATE_FIELDS: tuple[str, ...] = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")
STATE_DIM = len(STATE_FIELDS)

#: Frame rate of stored videos and of the `states` rows.
FPS = 5

STATS_FILE = "stat.json"

#: Optional per-frame segmentation of every view (the simulator writes it; DROID has none): one
#: uint8 label per pixel, stored as ``labels`` (T, views, H, W) in this file next to the videos.
SEGMENTATION_FILE = "segmentation.npz"
#: What each segmentation label means. Region metrics score the robot and the objects apart.
SEGMENT_LABELS: tuple[str, ...] = ("background", "robot", "object_1", "object_2")
ROBOT_LABEL = 1
OBJECT_LABELS: tuple[int, ...] = (2, 3)


def annotation_dir(root: Path, split: str) -> Path:
    """Folder of the annotation files of one split."""
    return root / "annotation" / split


def annotation_path(root: Path, split: str, episode_id: str) -> Path:
    """Annotation file of one episode."""
    return annotation_dir(root, split) / f"{episode_id}.json"


def video_dir(root: Path, split: str, episode_id: str) -> Path:
    """Folder with the camera videos of one episode."""
    return root / "videos" / split / str(episode_id)


def relative_video_path(split: str, episode_id: str, view: int) -> str:
    """Path of one camera video relative to the dataset root, as written in annotations."""
    return f"videos/{split}/{episode_id}/{view}.mp4"


def available_splits(root: Path) -> list[str]:
    """Names of the splits that have an annotation folder."""
    folder = root / "annotation"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def episode_sort_key(episode_id: str) -> tuple[int, int | str]:
    """Sort numeric ids numerically (2 before 10) and string ids after them alphabetically."""
    return (0, int(episode_id)) if episode_id.isdigit() else (1, episode_id)
