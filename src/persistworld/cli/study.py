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
) -> None:
    """Create a study from two evaluation runs of the same episodes."""
    from persistworld.study.create import create_study

    created = create_study(a, b, out, model_a=model_a, model_b=model_b, per_participant=per_participant,
                           owner_token=token)  # fmt: skip
    console.print(f"study: {created.path} ({created.pairs} pairs)")
    console.print(f"owner token (shown once, only its hash is stored): [bold]{created.owner_token}[/]")
    console.print(f"serve it: persistworld study serve {created.path}")


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
