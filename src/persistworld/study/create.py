"""`persistworld study create`: a study folder from two evaluation runs of the same episodes.

The folder holds ``study.json`` (the models, the settings and the owner token's hash, never the
token), ``study.sqlite`` (pairs, later trials and votes) and ``media/`` with copies of the
per-model videos of `persistworld evaluate`. The folder is built next to its destination and renamed
into place: a study either exists whole or not at all, and only its owner can read it (0700), since
the database holds which model was shown on which side.

Blinding starts here. Nothing about a copied file may depend on which model it came from:

- names are random (and the app serves each trial's videos under per-trial names anyway);
- the files are copied in a random order and all get the same modification time;
- the three videos of a pair are padded to the same size with an MP4 ``free`` box (a top-level box
  that players skip), so that a blurrier model's smaller file does not give it away.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from persistworld.errors import PersistWorldError
from persistworld.study.store import StudyStore
from persistworld.utils.atomic import atomic_directory, write_json_atomic

STUDY_FILE, DATABASE_FILE, MEDIA_DIR = "study.json", "study.sqlite", "media"
#: Settings two evaluations must share for their rollouts to be a fair pair.
MATCHING = ("split", "steps", "frames_per_step", "start", "seed")
#: Who may take part: holders of an invitation code (`persistworld study invite`), or anyone with the link.
Admission = Literal["invite", "open"]
#: Frame rate of the evaluation videos (the data's 5 Hz).
VIDEO_FPS = 5
#: Padded media sizes are rounded up to this, so that the padded size says little about the content.
PAD_TO = 4096


@dataclass(frozen=True)
class CreatedStudy:
    """Where the study is and the owner token (shown once; only its hash is stored)."""

    path: Path
    owner_token: str
    pairs: int


def hash_token(token: str) -> str:
    """The stored form of the owner token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _load_evaluation(path: Path) -> dict:
    results_file = path / "results.json"
    if not results_file.is_file():
        raise PersistWorldError(f"{results_file}: not found; give the output folder of `persistworld evaluate`.")
    results = json.loads(results_file.read_text())
    if "videos" not in results:
        raise PersistWorldError(
            f"{results_file}: has no `videos` field; re-run `persistworld evaluate` with --videos N."
        )
    return results


def _video_path(evaluation: Path, relative: str, field: str) -> Path:
    """A video listed in an evaluation's results.json, refused unless it lies inside that evaluation folder."""
    root = evaluation.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise PersistWorldError(
            f"{evaluation / 'results.json'}: `videos` field `{field}` points outside the evaluation folder "
            f"({relative}); a study copies only videos that `persistworld evaluate` wrote there."
        )
    if not path.is_file():
        raise PersistWorldError(f"{evaluation / 'results.json'}: `videos` field `{field}` ({relative}) is missing.")
    return path


def clip_seconds(results: dict) -> float:
    """Length of one evaluation video in seconds (the ground truth's frames at 5 Hz), 0 if unknown."""
    steps, per_step = results.get("steps"), results.get("frames_per_step")
    if not isinstance(steps, int) or not isinstance(per_step, int):
        return 0.0
    return (1 + steps * per_step) / VIDEO_FPS


def pad_mp4(path: Path, size: int) -> None:
    """Grow an MP4 file to exactly `size` bytes with a trailing top-level ``free`` box (players skip it)."""
    missing = size - path.stat().st_size
    if missing == 0:
        return
    if missing < 8:
        raise ValueError(f"{path}: cannot pad by {missing} bytes; an MP4 box needs at least 8.")
    with path.open("ab") as file:
        file.write(struct.pack(">I4s", missing, b"free") + bytes(missing - 8))


def _pick_model(results: dict, name: str | None, source: Path, default_index: int) -> str:
    names = [m["name"] for m in results["models"]]
    if name is None:
        return names[min(default_index, len(names) - 1)]
    if name not in names:
        raise PersistWorldError(f"{source / 'results.json'}: no model named `{name}`; it has {names}.")
    return name


def create_study(
    eval_a: Path,
    eval_b: Path,
    out: Path,
    *,
    model_a: str | None = None,
    model_b: str | None = None,
    per_participant: int | None = None,
    owner_token: str | None = None,
    title: str = "Which rollout is more faithful to the ground truth?",
    admission: Admission = "invite",
    min_view_seconds: float | None = None,
    new_participants_per_minute: int = 30,
) -> CreatedStudy:
    """Create a study comparing model A of evaluation `eval_a` with model B of `eval_b` on their shared episodes.

    Args:
        eval_a: Evaluation folder (``persistworld evaluate --videos N``) with model A.
        eval_b: Evaluation folder with model B (may be `eval_a`).
        out: The study folder to create.
        model_a: Model A's name in `eval_a` (default: its first model).
        model_b: Model B's name in `eval_b` (default: its first, or its second when both folders are one).
        per_participant: Pairs per participant (default: all).
        owner_token: The owner's token (default: a random one; only its hash is stored).
        title: The question participants see.
        admission: ``invite`` (default): only holders of a code from `persistworld study invite`;
            ``open``: anyone with the link, new participants limited to `new_participants_per_minute`.
        min_view_seconds: Votes sooner than this after a trial is shown are refused (default: one
            loop of the video), so that nobody can vote through trials without watching them.
        new_participants_per_minute: Open enrolment's rate limit over all visitors.
    """
    results_a, results_b = _load_evaluation(eval_a), _load_evaluation(eval_b)
    for key in MATCHING:
        if results_a.get(key) != results_b.get(key):
            raise PersistWorldError(
                f"{eval_a} and {eval_b} differ in `{key}` ({results_a.get(key)} vs {results_b.get(key)}): a study "
                "compares rollouts of the same episodes with the same settings."
            )
    name_a = _pick_model(results_a, model_a, eval_a, 0)
    name_b = _pick_model(results_b, model_b, eval_b, 1 if eval_a.resolve() == eval_b.resolve() else 0)
    if eval_a.resolve() == eval_b.resolve() and name_a == name_b:
        raise PersistWorldError(f"model A and model B are both `{name_a}` of {eval_a}: pick two different models.")
    videos_a = {v["episode"]: v["single"] for v in results_a["videos"]}
    videos_b = {v["episode"]: v["single"] for v in results_b["videos"]}
    episodes = [e for e in videos_a if e in videos_b]
    if not episodes:
        raise PersistWorldError(f"{eval_a} and {eval_b} have no episode with videos in common.")
    token = owner_token or secrets.token_urlsafe(24)
    if len(token) < 12:
        raise PersistWorldError("the owner token must be at least 12 characters long.")
    if admission not in ("invite", "open"):
        raise PersistWorldError(f"admission must be `invite` or `open`. Got `{admission}`.")
    if new_participants_per_minute < 1:
        raise PersistWorldError(f"new_participants_per_minute must be >= 1. Got {new_participants_per_minute}.")
    if min_view_seconds is None:
        min_view_seconds = clip_seconds(results_a)
    if min_view_seconds < 0:
        raise PersistWorldError(f"min_view_seconds must be >= 0. Got {min_view_seconds}.")
    sources = [
        (
            episode,
            _video_path(eval_a, videos_a[episode]["ground truth"], f"{episode}/ground truth"),
            _video_path(eval_a, videos_a[episode][name_a], f"{episode}/{name_a}"),
            _video_path(eval_b, videos_b[episode][name_b], f"{episode}/{name_b}"),
        )
        for episode in episodes
    ]
    with atomic_directory(out) as folder:
        media = folder / MEDIA_DIR
        media.mkdir()
        names = {(row, column): f"{secrets.token_hex(16)}.mp4" for row in range(len(sources)) for column in (1, 2, 3)}
        order = list(names)
        random.SystemRandom().shuffle(order)  # the copy order says nothing about which file is which model
        for row, column in order:
            shutil.copyfile(sources[row][column], media / names[row, column])
        stamp = int(time.time())
        for row in range(len(sources)):
            files = [media / names[row, column] for column in (1, 2, 3)]
            size = -(-(max(f.stat().st_size for f in files) + 8) // PAD_TO) * PAD_TO
            for file in files:
                pad_mp4(file, size)
                os.utime(file, (stamp, stamp))
        pairs = [(episode, *(names[row, column] for column in (1, 2, 3))) for row, (episode, *_) in enumerate(sources)]
        StudyStore(folder / DATABASE_FILE).add_pairs(pairs)
        os.chmod(folder / DATABASE_FILE, 0o600)
        write_json_atomic(
            folder / STUDY_FILE,
            {
                "title": title,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "models": {
                    "a": {"name": name_a, "evaluation": str(eval_a)},
                    "b": {"name": name_b, "evaluation": str(eval_b)},
                },
                "episodes": episodes,
                "per_participant": min(per_participant or len(episodes), len(episodes)),
                "owner_token_sha256": hash_token(token),
                "rollout": {key: results_a.get(key) for key in MATCHING},
                "admission": admission,
                "min_view_seconds": float(min_view_seconds),
                "new_participants_per_minute": new_participants_per_minute,
            },
        )
        os.chmod(folder, 0o700)
    os.chmod(out, 0o700)  # the database holds the hidden assignments: the owner's alone
    return CreatedStudy(out, token, len(pairs))
