"""`persistworld study create`: a study folder from two evaluation runs of the same episodes.

The folder holds ``study.json`` (the models, the settings and the owner token's hash, never the
token), ``study.sqlite`` (pairs, later trials and votes) and ``media/`` with copies of the
per-model videos of `persistworld evaluate` under random names, so that neither a file name nor a
URL tells a participant which model they are looking at. The folder is built next to its
destination and renamed into place: a study either exists whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from persistworld.errors import PersistWorldError
from persistworld.study.store import StudyStore
from persistworld.utils.atomic import atomic_directory, write_json_atomic

STUDY_FILE, DATABASE_FILE, MEDIA_DIR = "study.json", "study.sqlite", "media"
#: Settings two evaluations must share for their rollouts to be a fair pair.
MATCHING = ("split", "steps", "frames_per_step", "start", "seed")


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
) -> CreatedStudy:
    """Create a study comparing model A of evaluation `eval_a` with model B of `eval_b` on their shared episodes."""
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
    with atomic_directory(out) as folder:
        media = folder / MEDIA_DIR
        media.mkdir()

        def copy(source: Path) -> str:
            if not source.is_file():
                raise PersistWorldError(f"{source}: video listed in results.json is missing.")
            name = f"{secrets.token_hex(16)}.mp4"
            shutil.copyfile(source, media / name)
            return name

        pairs = [
            (episode, copy(eval_a / videos_a[episode]["ground truth"]), copy(eval_a / videos_a[episode][name_a]),
             copy(eval_b / videos_b[episode][name_b]))
            for episode in episodes
        ]  # fmt: skip
        StudyStore(folder / DATABASE_FILE).add_pairs(pairs)
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
                "per_participant": per_participant or len(episodes),
                "owner_token_sha256": hash_token(token),
                "rollout": {key: results_a.get(key) for key in MATCHING},
            },
        )
    return CreatedStudy(out, token, len(pairs))
