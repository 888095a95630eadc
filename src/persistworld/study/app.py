"""`persistworld study serve`: the study web app (FastAPI), one process, SQLite underneath.

Routes:
    GET  /                      the participant page (sets the participant cookie on first visit)
    GET  /api/next              the participant's current trial, a new one, or ``done``
    POST /api/vote              ``{"trial": id, "choice": "left" | "right" | "tie"}``
    GET  /media/<32 hex>.mp4    a study video (nothing else is reachable)
    GET  /owner                 results for the owner (``?token=`` or ``Authorization: Bearer``)
    GET  /owner/export.csv      every vote with its hidden assignment (same token)

Errors a client can cause are 4xx, never 500: unknown participant 401, wrong token 403, foreign or
unknown trial 403, second vote 409, malformed JSON 422, bodies over 4 KB 413, bad media names 404.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from persistworld.errors import PersistWorldError
from persistworld.study.create import DATABASE_FILE, MEDIA_DIR, STUDY_FILE, hash_token
from persistworld.study.pages import owner_page, participant_page
from persistworld.study.stats import preference
from persistworld.study.store import AlreadyVoted, StudyStore, TrialNotServed

COOKIE = "persistworld_participant"
MAX_BODY_BYTES = 4096
MEDIA_NAME = re.compile(r"^[0-9a-f]{32}\.mp4$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"
    ),
}


class VoteRequest(BaseModel):
    """The body of a vote."""

    trial: str = Field(min_length=1, max_length=64)
    choice: Literal["left", "right", "tie"]


def load_study(path: Path) -> dict:
    """The study's settings, or a clear error naming the missing file."""
    for name in (STUDY_FILE, DATABASE_FILE, MEDIA_DIR):
        if not (path / name).exists():
            raise PersistWorldError(f"{path / name}: missing; create the study with `persistworld study create`.")
    return json.loads((path / STUDY_FILE).read_text())


def create_app(path: str | Path) -> FastAPI:
    """The app for the study folder at `path`."""
    path = Path(path)
    study = load_study(path)
    store = StudyStore(path / DATABASE_FILE)
    media = (path / MEDIA_DIR).resolve()
    app = FastAPI(title="persistworld study", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def limits_and_headers(request: Request, call_next):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def participant_of(request: Request) -> str | None:
        participant = request.cookies.get(COOKIE)
        return participant if participant and len(participant) < 64 and store.is_participant(participant) else None

    def owner_allowed(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = request.query_params.get("token") or (header[7:] if header.lower().startswith("bearer ") else "")
        return bool(token) and hmac.compare_digest(hash_token(token), study["owner_token_sha256"])

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        response = HTMLResponse(participant_page(study["title"]))
        if participant_of(request) is None:
            response.set_cookie(COOKIE, store.new_participant(), httponly=True, samesite="strict", max_age=30 * 86400)
        return response

    @app.get("/api/next")
    def next_trial(request: Request) -> Response:
        participant = participant_of(request)
        if participant is None:
            return JSONResponse({"error": "unknown participant: open the study page first"}, status_code=401)
        trial = store.next_trial(participant, study["per_participant"])
        progress = {"voted": store.progress(participant), "total": study["per_participant"]}
        if trial is None:
            return JSONResponse({"done": True, "progress": progress}, headers={"Cache-Control": "no-store"})
        payload = {"id": trial.id, "truth": trial.truth, "left": trial.left, "right": trial.right}
        return JSONResponse(
            {"done": False, "trial": payload, "progress": progress}, headers={"Cache-Control": "no-store"}
        )

    @app.post("/api/vote")
    async def vote(request: Request) -> Response:
        participant = participant_of(request)
        if participant is None:
            return JSONResponse({"error": "unknown participant"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            request_vote = VoteRequest.model_validate_json(body)
        except ValidationError as error:
            detail = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"]} for e in error.errors()]
            return JSONResponse({"error": "malformed vote", "detail": detail}, status_code=422)
        try:
            store.vote(participant, request_vote.trial, request_vote.choice)
        except TrialNotServed:
            return JSONResponse({"error": "this trial was not served to you"}, status_code=403)
        except AlreadyVoted:
            return JSONResponse({"error": "this trial already has your vote"}, status_code=409)
        return JSONResponse({"ok": True, "voted": store.progress(participant)})

    @app.get("/media/{name}")
    def media_file(name: str) -> Response:
        if not MEDIA_NAME.fullmatch(name):
            return PlainTextResponse("not found", status_code=404)
        file = (media / name).resolve()
        if file.parent != media or not file.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(file, media_type="video/mp4")

    def results():
        tallies = store.tallies()
        per_episode = {e: preference(t["a"], t["b"], t["tie"]) for e, t in tallies.items()}
        overall = preference(*(sum(t[k] for t in tallies.values()) for k in ("a", "b", "tie")))
        return overall, per_episode

    @app.get("/owner", response_class=HTMLResponse)
    def owner(request: Request) -> Response:
        if not owner_allowed(request):
            return PlainTextResponse("the owner page needs the study's token (?token=...)", status_code=403)
        overall, per_episode = results()
        export = f"owner/export.csv?token={request.query_params.get('token', '')}"
        models = study["models"]
        return HTMLResponse(
            owner_page(study["title"], models["a"]["name"], models["b"]["name"], overall, per_episode, export)
        )

    @app.get("/owner/results.json")
    def owner_json(request: Request) -> Response:
        if not owner_allowed(request):
            return JSONResponse({"error": "token required"}, status_code=403)
        overall, per_episode = results()
        return JSONResponse({"models": study["models"], "overall": overall.as_dict(),
                             "per_episode": {e: p.as_dict() for e, p in per_episode.items()}})  # fmt: skip

    @app.get("/owner/export.csv")
    def export(request: Request) -> Response:
        if not owner_allowed(request):
            return PlainTextResponse("the export needs the study's token (?token=...)", status_code=403)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["voted_at", "participant", "trial", "episode", "left_model", "choice", "preferred",
                         "served_at"])  # fmt: skip
        names = {"a": study["models"]["a"]["name"], "b": study["models"]["b"]["name"], "tie": "tie"}
        for created, participant, trial, episode, left, choice, preferred, served in store.export_rows():
            writer.writerow([created, participant, trial, episode, names[left], choice, names[preferred], served])
        return Response(buffer.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": "attachment; filename=votes.csv"})  # fmt: skip

    return app


def serve_study(path: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(path), host=host, port=port, log_level="warning")
