"""The `persistworld` command line: thin commands that build a config and call the library.

Every command takes ``--preset`` (demo, droid, paper), ``--config`` (a YAML file with a subset of
the config) and repeated ``--set section.key=value`` overrides, applied in that order.
"""

from __future__ import annotations

import sys

import typer

from persistworld.cli.common import console
from persistworld.cli.ctrl_world import import_ctrl_world_command
from persistworld.cli.data import data_app
from persistworld.cli.demo import demo_command
from persistworld.cli.env import env_command
from persistworld.cli.evaluate import evaluate_command
from persistworld.cli.rollout import rollout_command
from persistworld.cli.study import study_app
from persistworld.cli.train import posttrain_command, pretrain_command
from persistworld.errors import PersistWorldError

app = typer.Typer(
    name="persistworld",
    help="Action-conditioned multi-view robot world models that hold up over long rollouts (PersistWorld).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(study_app, name="study")
app.command("demo")(demo_command)
app.command("env")(env_command)
app.command("evaluate")(evaluate_command)
app.command("import-ctrl-world")(import_ctrl_world_command)
app.command("pretrain")(pretrain_command)
app.command("posttrain")(posttrain_command)
app.command("rollout")(rollout_command)


def main() -> None:
    """Entry point: run the app; user errors print one clear line and exit with status 2."""
    try:
        app()
    except PersistWorldError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
