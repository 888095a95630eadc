"""`persistworld data ...`: generate, convert, inspect and show datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from persistworld.cli.common import (
    ConfigOption,
    PresetOption,
    SetOption,
    console,
    load_config,
    parse_resolution,
    progress_bar,
)
from persistworld.config import config_from_dict, load_yaml_file, save_config

data_app = typer.Typer(
    help="Datasets in the Ctrl-World layout: simulate, convert, inspect, show.", no_args_is_help=True
)

RootArgument = Annotated[Path, typer.Argument(help="Dataset root (holds annotation/, videos/, stat.json).")]


@data_app.command("sim")
def sim_command(
    out: Annotated[Path | None, typer.Option(help="Dataset root to write; default: the preset's data.root.")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes (default: sim.workers).")] = None,
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Generate robosuite episodes (3 views, 5 Hz), deterministic per seed; skips episodes already written."""
    from persistworld.sim.generate import pending_jobs, run_generation

    cfg = load_config(preset, config, set_)
    sim = cfg.sim
    if workers is not None:
        sim.workers = workers
    root = out or cfg.data.root
    save_config(sim, root / "sim_config.yaml")
    jobs = pending_jobs(root, sim)
    total = sum(sim.episodes.values())
    console.print(
        f"{root}: {total - len(jobs)} of {total} episodes exist, generating {len(jobs)} with {sim.workers} worker(s)."
    )
    outcomes: Counter[tuple[str, bool]] = Counter()
    with progress_bar() as progress:
        task = progress.add_task("simulating", total=len(jobs), status="")
        for row in run_generation(root, sim):
            outcomes[(row["task"], row["success"])] += 1
            progress.update(task, advance=1, status=f"{row['split']}/{row['seed']} {row['task']} ok={row['success']}")
    if outcomes:
        summary = ", ".join(
            f"{t}: {outcomes[(t, True)]}/{outcomes[(t, True)] + outcomes[(t, False)]} succeeded"
            for t in sorted({t for t, _ in outcomes})
        )
        console.print(f"done: {summary}")
    console.print(f"dataset: {root}")


@data_app.command("show")
def show_command(
    root: RootArgument,
    episode: Annotated[str, typer.Option(help="Episode id; default: the split's first episode.")] = "",
    split: Annotated[str, typer.Option(help="Split folder.")] = "val",
    out: Annotated[Path, typer.Option(help="Folder for the PNG and the mp4.")] = Path("runs/show"),
    resolution: Annotated[
        str | None, typer.Option(help="Resize views to HxW, e.g. 96x160; default: as stored.")
    ] = None,
    columns: Annotated[int, typer.Option(help="Time steps on the contact sheet.")] = 8,
) -> None:
    """Write a contact sheet (PNG, one row per view) and a side-by-side 3-view mp4 of an episode."""
    from persistworld.data.reader import EpisodeDataset
    from persistworld.data.visualize import show_episode

    dataset = EpisodeDataset(root, split, resolution=parse_resolution(resolution))
    sheet, video = show_episode(dataset, episode or dataset.episode_ids[0], out, columns=columns)
    console.print(f"contact sheet: {sheet}\nvideo: {video}")


@data_app.command("info")
def info_command(root: RootArgument) -> None:
    """Summarise a dataset: splits, episodes, frames, instructions, tasks."""
    from persistworld.data.layout import available_splits
    from persistworld.data.reader import EpisodeDataset

    table = Table("split", "episodes", "frames", "min / max length", "succeeded", "tasks", title=str(root))
    splits = available_splits(root)
    if not splits:
        from persistworld.errors import EpisodeDataError

        raise EpisodeDataError(root, "no annotation/<split>/ folders: not a dataset in the Ctrl-World layout.")
    for split in splits:
        metas = EpisodeDataset(root, split).metas()
        lengths = [m.video_length for m in metas]
        tasks = Counter(str(m.extra.get("task", "-")) for m in metas)
        known = [m.success for m in metas if m.success is not None]
        table.add_row(
            split,
            str(len(metas)),
            str(sum(lengths)),
            f"{min(lengths)} / {max(lengths)}",
            f"{sum(known)}/{len(known)}" if known else "-",
            ", ".join(f"{t}: {n}" for t, n in sorted(tasks.items())),
        )
    console.print(table)


@data_app.command("convert-lerobot")
def convert_lerobot_command(
    source: Annotated[Path, typer.Argument(help="LeRobot v2.x dataset folder (meta/, data/, videos/).")],
    out: Annotated[Path, typer.Option(help="Dataset root to write.")],
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML with LeRobotConvertConfig fields (camera keys, columns...)."),
    ] = None,
    max_episodes: Annotated[int, typer.Option(help="Convert at most this many episodes (0 = all).")] = 0,
) -> None:
    """Convert a LeRobot-format DROID download: 15 Hz to 5 Hz, 3 cameras to views 0/1/2, 7-D states."""
    from persistworld.data.lerobot import LeRobotConvertConfig, convert_lerobot

    cfg = (
        config_from_dict(LeRobotConvertConfig, load_yaml_file(config), source=str(config))
        if config
        else LeRobotConvertConfig()
    )
    if max_episodes:
        cfg.max_episodes = max_episodes
    converted = skipped = 0
    with progress_bar() as progress:
        task = progress.add_task("converting", total=None, status="")
        for row in convert_lerobot(source, out, cfg):
            skipped += row["skipped"]
            converted += not row["skipped"]
            progress.update(task, advance=1, status=f"episode {row['episode_index']} -> {row['split']}")
    console.print(f"converted {converted} episode(s), skipped {skipped} already converted; dataset: {out}")
