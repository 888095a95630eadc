"""`persistworld study serve`: the study web app (FastAPI), one process, SQLite underneath.

Routes:
    GET  /                          the participant page; ``?invite=<code>`` admits a new participant
    GET  /api/next                  the participant's current trial, a new one, or ``done``
    POST /api/vote                  ``{"trial": id, "choice": "left" | "right" | "tie"}`` (JSON only)
    GET  /media/<trial>/<slot>.mp4  a video of one of the participant's own trials (truth, left, right)
    GET  /owner                     results for the owner (``?token=`` or ``Authorization: Bearer``)
    GET  /owner/results.json        the same numbers as JSON
    GET  /owner/export.csv          every vote with its hidden assignment (token, or the owner page's signed link)

What it guarantees, and how (docs/study.md has the user's version):

- **Blind.** A participant sees each trial's videos under per-trial names (``<trial>/left.mp4``),
  served without validators (no ETag, no Last-Modified) from files that `create` padded to one size
  and stamped with one time. Nothing observable but the pictures depends on the model.
- **One vote per admitted participant and trial.** By default participants are admitted by single-use
  invitation codes (`persistworld study invite`); open enrolment is rate limited. A vote counts only
  after the trial has been on screen for the study's minimum viewing time, checked on the server.
- **Robust.** Bodies are read with a hard cap whatever their framing; writes need JSON and a
  same-origin request; read-only routes take no write lock; a database locked past the busy timeout
  gives a 503 with ``Retry-After``, not a hang; every response carries the security headers.

Errors a client can cause are 4xx, never 500: unknown participant 401, wrong token or foreign origin or
invalid invitation 403, foreign or unknown trial 403, second vote 409, too early 425, not JSON 415,
malformed JSON 422, bodies over 4 KB 413, too many new participants 429, bad media names 404.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError

from persistworld.errors import PersistWorldError
from persistworld.study.create import DATABASE_FILE, MEDIA_DIR, STUDY_FILE, hash_token
from persistworld.study.pages import ParticipantRow, message_page, owner_page, participant_page
from persistworld.study.stats import preference
from persistworld.study.store import AlreadyVoted, InviteInvalid, StudyBusy, StudyStore, TooEarly, TrialNotServed

COOKIE = "persistworld_participant"
MAX_BODY_BYTES = 4096
TRIAL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SLOTS = ("truth", "left", "right")
#: How long the owner page's signed export link stays valid.
EXPORT_LINK_SECONDS = 600
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
NO_STORE = {"Cache-Control": "no-store"}
#: Cell starts that spreadsheet programs read as a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class VoteRequest(BaseModel):
    """The body of a vote."""

    trial: str = Field(min_length=1, max_length=64)
    choice: Literal["left", "right", "tie"]


@dataclass(frozen=True)
class StudySettings:
    """What `serve` reads from study.json. Studies made before a setting existed get its old behaviour."""

    title: str
    models: dict
    per_participant: int
    owner_token_sha256: str
    admission: Literal["invite", "open"] = "open"
    min_view_seconds: float = 0.0
    new_participants_per_minute: int = 30

    @classmethod
    def read(cls, path: Path) -> StudySettings:
        """The settings of the study folder `path`, with a clear error naming a broken file or field."""
        for name in (STUDY_FILE, DATABASE_FILE, MEDIA_DIR):
            if not (path / name).exists():
                raise PersistWorldError(f"{path / name}: missing; create the study with `persistworld study create`.")
        file = path / STUDY_FILE
        try:
            data = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise PersistWorldError(f"{file}: not valid JSON ({error}).") from error
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        missing = [k for k in ("title", "models", "per_participant", "owner_token_sha256") if k not in known]
        if missing:
            raise PersistWorldError(f"{file}: missing field(s) {missing}.")
        if known.get("admission", "open") not in ("invite", "open"):
            raise PersistWorldError(
                f"{file}: field `admission` must be `invite` or `open`. Got {known['admission']!r}."
            )
        return cls(**known)


def load_study(path: Path) -> dict:
    """The study's settings as a dict, or a clear error naming the missing or broken file."""
    return vars(StudySettings.read(path))


class RateLimit:
    """A token bucket: at most `per_minute` events in any minute, refilled continuously; thread-safe."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity, self.clock = float(per_minute), clock
        self.tokens, self.updated = self.capacity, clock()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.capacity / 60)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class MediaResponse(FileResponse):
    """A file served without validators (no ETag, no Last-Modified); Range requests still work.

    Why: Starlette derives both from the file's mtime and size, metadata that must not be able to tell
    two models' videos apart.
    """

    def set_stat_headers(self, stat_result) -> None:  # noqa: D102
        self.headers.setdefault("content-length", str(stat_result.st_size))

    def _should_use_range(self, http_if_range: str) -> bool:
        return False  # no validator can match, so If-Range always gets the whole file


def neutralise(cell: object) -> object:
    """A CSV cell that a spreadsheet will not evaluate: text starting like a formula gets a leading quote."""
    return "'" + cell if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) else cell


def participant_key(secret: str, participant: str) -> str:
    """A keyed hash of a participant id for exports and the owner page: stable, but not the live cookie."""
    return hmac.new(secret.encode(), participant.encode(), hashlib.sha256).hexdigest()[:16]


def export_signature(secret: str, expires: int) -> str:
    """The signature of an export link valid until `expires` (Unix seconds)."""
    return hmac.new(secret.encode(), f"export:{expires}".encode(), hashlib.sha256).hexdigest()


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` bytes (whatever its framing: chunked too)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(path: str | Path, *, busy_timeout: float = 5.0, clock: Callable[[], float] = time.monotonic) -> FastAPI:
    """The app for the study folder at `path`.

    Args:
        path: The study folder (`persistworld study create`).
        busy_timeout: Seconds a request waits for a locked database before it gets a 503.
        clock: Time source of the enrolment rate limit (tests pass a fake one).
    """
    path = Path(path)
    study = StudySettings.read(path)
    store = StudyStore(path / DATABASE_FILE, busy_timeout=busy_timeout)
    media = (path / MEDIA_DIR).resolve()
    total = min(study.per_participant, store.pair_count())
    enrolment = RateLimit(study.new_participants_per_minute, clock)
    app = FastAPI(title="persistworld study", docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(StudyBusy)
    async def busy(request: Request, error: StudyBusy) -> Response:
        body = {"error": "the study database is busy; retry in a moment", "retry_after": 1}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1", **NO_STORE})

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        return JSONResponse({"error": "internal error"}, status_code=500, headers=SECURITY_HEADERS)

    def participant_of(request: Request) -> str | None:
        participant = request.cookies.get(COOKIE)
        return participant if participant and len(participant) < 64 and store.is_participant(participant) else None

    def owner_allowed(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = request.query_params.get("token") or (header[7:] if header.lower().startswith("bearer ") else "")
        return bool(token) and hmac.compare_digest(hash_token(token), study.owner_token_sha256)

    def signed_export_allowed(request: Request) -> bool:
        expires, signature = request.query_params.get("expires", ""), request.query_params.get("signature", "")
        if not expires.isdigit() or int(expires) < time.time():
            return False
        return hmac.compare_digest(export_signature(study.owner_token_sha256, int(expires)), signature)

    def admitted(response: Response, participant: str) -> Response:
        response.set_cookie(COOKIE, participant, httponly=True, samesite="strict", max_age=30 * 86400)
        return response

    def refusal(text: str, status: int, headers: dict[str, str] | None = None) -> Response:
        return HTMLResponse(
            message_page(study.title, text), status_code=status, headers={**NO_STORE, **(headers or {})}
        )

    def busy_enrolment() -> Response:
        text = "Too many people are joining right now. Please try again in a minute."
        return refusal(text, 429, {"Retry-After": "60"})

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        page = HTMLResponse(participant_page(study.title), headers=NO_STORE)
        if participant_of(request) is not None:
            return page
        invite = request.query_params.get("invite")
        if invite is not None:
            if not enrolment.allow():
                return busy_enrolment()
            try:
                participant = store.new_participant(invite=invite[:64])
            except InviteInvalid:
                return refusal("This invitation is not valid, or it has been used already.", 403)
            # Redirect so that the code leaves the address bar and the browser history.
            return admitted(RedirectResponse("./", status_code=303, headers=NO_STORE), participant)
        if study.admission == "invite":
            return refusal("This study is by invitation: please open the link you were given.", 403)
        if not enrolment.allow():
            return busy_enrolment()
        return admitted(page, store.new_participant())

    @app.get("/api/next")
    def next_trial(request: Request) -> Response:
        participant = participant_of(request)
        if participant is None:
            return JSONResponse({"error": "unknown participant: open the study page first"}, status_code=401)
        trial = store.next_trial(participant, study.per_participant)
        progress = {"voted": store.progress(participant), "total": total}
        if trial is None:
            return JSONResponse({"done": True, "progress": progress}, headers=NO_STORE)
        payload = {
            "id": trial.id,
            **{slot: f"{trial.id}/{slot}.mp4" for slot in SLOTS},
            "wait_seconds": round(max(0.0, trial.served + study.min_view_seconds - time.time()), 3),
        }
        return JSONResponse({"done": False, "trial": payload, "progress": progress}, headers=NO_STORE)

    def same_origin(request: Request) -> bool:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host', '')}":
            return False
        return request.headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    @app.post("/api/vote")
    async def vote(request: Request) -> Response:
        participant = participant_of(request)
        if participant is None:
            return JSONResponse({"error": "unknown participant"}, status_code=401)
        if not same_origin(request):
            return JSONResponse({"error": "votes are accepted from the study's own page only"}, status_code=403)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return JSONResponse({"error": "a vote must be sent as application/json"}, status_code=415)
        body = await read_capped(request, MAX_BODY_BYTES)
        if body is None:  # and close the connection, so that the rest of the body is not read either
            too_large = {"error": f"request body over {MAX_BODY_BYTES} bytes"}
            return JSONResponse(too_large, status_code=413, headers={"Connection": "close"})
        try:
            request_vote = VoteRequest.model_validate_json(body)
        except ValidationError as error:
            detail = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"]} for e in error.errors()]
            return JSONResponse({"error": "malformed vote", "detail": detail}, status_code=422)
        try:
            store.vote(participant, request_vote.trial, request_vote.choice, min_view_seconds=study.min_view_seconds)
        except TrialNotServed:
            return JSONResponse({"error": "this trial was not served to you"}, status_code=403)
        except AlreadyVoted:
            return JSONResponse({"error": "this trial already has your vote"}, status_code=409)
        except TooEarly as early:
            wait = round(early.remaining, 3)
            return JSONResponse(
                {"error": "please watch the videos before voting", "retry_after": wait},
                status_code=425,
                headers={"Retry-After": str(max(1, round(early.remaining)))},
            )
        return JSONResponse({"ok": True, "voted": store.progress(participant)})

    @app.get("/media/{trial}/{name}")
    def media_file(request: Request, trial: str, name: str) -> Response:
        slot = name.removesuffix(".mp4")
        participant = participant_of(request)
        if participant is None or not TRIAL_ID.fullmatch(trial) or slot not in SLOTS or not name.endswith(".mp4"):
            return PlainTextResponse("not found", status_code=404)
        files = store.trial_media(participant, trial)
        if files is None:
            return PlainTextResponse("not found", status_code=404)
        file = (media / files[slot]).resolve()
        if file.parent != media or not file.is_file():
            return PlainTextResponse("not found", status_code=404)
        cache = {"Cache-Control": "private, max-age=86400"}  # per-trial URLs: caching reveals nothing
        return MediaResponse(file, media_type="video/mp4", stat_result=file.stat(), headers=cache)

    def results():
        tallies = store.tallies()
        per_episode = {e: preference(t["a"], t["b"], t["tie"]) for e, t in tallies.items()}
        overall = preference(*(sum(t[k] for t in tallies.values()) for k in ("a", "b", "tie")))
        return overall, per_episode

    def participants_summary() -> dict:
        issued, used = store.invite_counts()
        voters = store.votes_per_participant()
        return {
            "admission": study.admission,
            "admitted": store.participant_count(),
            "with_votes": len(voters),
            "invites_issued": issued,
            "invites_used": used,
            "votes_per_participant": [
                {"participant": participant_key(study.owner_token_sha256, p), "votes": n} for p, n, _ in voters
            ],
        }

    @app.get("/owner", response_class=HTMLResponse)
    def owner(request: Request) -> Response:
        if not owner_allowed(request):
            return PlainTextResponse("the owner page needs the study's token (?token=...)", 403, headers=NO_STORE)
        overall, per_episode = results()
        expires = int(time.time()) + EXPORT_LINK_SECONDS
        export = f"owner/export.csv?expires={expires}&signature={export_signature(study.owner_token_sha256, expires)}"
        summary = participants_summary()
        rows = [ParticipantRow(r["participant"], r["votes"]) for r in summary["votes_per_participant"]]
        page = owner_page(
            study.title,
            study.models["a"]["name"],
            study.models["b"]["name"],
            overall,
            per_episode,
            export_href=export,
            participants=summary,
            participant_rows=rows,
        )
        return HTMLResponse(page, headers=NO_STORE)

    @app.get("/owner/results.json")
    def owner_json(request: Request) -> Response:
        if not owner_allowed(request):
            return JSONResponse({"error": "token required"}, status_code=403, headers=NO_STORE)
        overall, per_episode = results()
        body = {
            "models": study.models,
            "overall": overall.as_dict(),
            "per_episode": {e: p.as_dict() for e, p in per_episode.items()},
            "participants": participants_summary(),
        }
        return JSONResponse(body, headers=NO_STORE)

    @app.get("/owner/export.csv")
    def export(request: Request) -> Response:
        if not (owner_allowed(request) or signed_export_allowed(request)):
            return PlainTextResponse("the export needs the study's token (?token=...)", 403, headers=NO_STORE)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(
            ["voted_at", "participant", "trial", "episode", "left_model", "choice", "preferred", "served_at"]
        )
        names = {"a": study.models["a"]["name"], "b": study.models["b"]["name"], "tie": "tie"}
        for created, participant, trial, episode, left, choice, preferred, served in store.export_rows():
            key = participant_key(study.owner_token_sha256, participant)
            row = [created, key, trial, episode, names[left], choice, names[preferred], served]
            writer.writerow([neutralise(cell) for cell in row])
        disposition = {"Content-Disposition": "attachment; filename=votes.csv", **NO_STORE}
        return Response(buffer.getvalue(), media_type="text/csv", headers=disposition)

    return app


def serve_study(path: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(path), host=host, port=port, log_level="warning")
