"""`persistworld study create | serve`: a blind paired human-preference study of two models' rollouts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persistworld.cli.common import console

study_app = typer.Typer(help="Blind paired human-preference study (FastAPI + SQLite).", no_args_is_help=True)


@study_app.command("create")
def create_command(
    a: Annotated[Path, typer.Option("--a", help="Evaluation folder (persistworld evaluate --out) with model A.")],
    b: Annotated[Path, typer.Option("--b", help="Evaluation folder with model B (may be the same folder).")],
    out: Annotated[Path, typer.Option(help="Study folder to create.")],
    model_a: Annotated[str | None, typer.Option(help="Model A's name in --a (default: its first model).")] = None,
    model_b: Annotated[str | None, typer.Option(help="Model B's name in --b (default: its first, or second).")] = None,
    per_participant: Annotated[int | None, typer.Option(help="Pairs per participant (default: all).")] = None,
    token: Annotated[str | None, typer.Option(help="Owner token (default: a random one, printed once).")] = None,
    open_enrolment: Annotated[
        bool, typer.Option("--open", help="Anyone with the link may take part (default: invitation codes only).")
    ] = False,
    min_view_seconds: Annotated[
        float | None, typer.Option(help="Seconds a trial must be shown before a vote counts (default: one loop).")
    ] = None,
    new_per_minute: Annotated[int, typer.Option(help="Open enrolment: new participants per minute, at most.")] = 30,
) -> None:
    """Create a study from two evaluation runs of the same episodes."""
    from persistworld.study.create import create_study

    created = create_study(
        a,
        b,
        out,
        model_a=model_a,
        model_b=model_b,
        per_participant=per_participant,
        owner_token=token,
        admission="open" if open_enrolment else "invite",
        min_view_seconds=min_view_seconds,
        new_participants_per_minute=new_per_minute,
    )
    console.print(f"study: {created.path} ({created.pairs} pairs)")
    console.print(f"owner token (shown once, only its hash is stored): [bold]{created.owner_token}[/]")
    if not open_enrolment:
        console.print(f"invite participants: persistworld study invite {created.path} --count N")
    console.print(f"serve it: persistworld study serve {created.path}")


@study_app.command("invite")
def invite_command(
    path: Annotated[Path, typer.Argument(help="Study folder made by `persistworld study create`.")],
    count: Annotated[int, typer.Option(help="Invitations to issue; each admits one participant.")] = 1,
    url: Annotated[str, typer.Option(help="The study's public address, to print whole links.")] = "",
) -> None:
    """Issue invitation links, one per participant (works while the study is being served)."""
    from persistworld.study.app import StudySettings
    from persistworld.study.create import DATABASE_FILE
    from persistworld.study.store import StudyStore

    if count < 1:
        raise typer.BadParameter(f"--count must be >= 1. Got {count}.")
    StudySettings.read(path)  # a clear error for a folder that is not a study
    base = url.rstrip("/") + "/" if url else "/"
    for code in StudyStore(path / DATABASE_FILE).add_invites(count):
        console.print(f"{base}?invite={code}", soft_wrap=True, highlight=False)


@study_app.command("serve")
def serve_command(
    path: Annotated[Path, typer.Argument(help="Study folder made by `persistworld study create`.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Serve the study: participants at /, results at /owner?token=..."""
    from persistworld.study.app import load_study, serve_study

    load_study(path)  # clear error before uvicorn starts
    console.print(f"participants: http://{host}:{port}/   owner: http://{host}:{port}/owner?token=<token>")
    serve_study(path, host, port)
