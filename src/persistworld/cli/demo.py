"""`persistworld demo`: the embedded default, end to end on a CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from persistworld.cli.common import ConfigOption, PresetOption, SetOption, console, load_config
from persistworld.cli.data import sim_command
from persistworld.presets import PersistWorldConfig


def demo_command(
    out: Annotated[Path, typer.Option(help="Run folder; the dataset goes to <out>/data.")] = Path("runs/demo"),
    preset: PresetOption = "demo",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Run the simulator demo: dataset, the shipped baseline's rollouts, PersistWorld post-training, evaluation.

    Step 3 replays held-out test episodes through the teacher-forced baseline that ships with the
    package (persistworld/assets/baseline_demo) and shows how its rollout drifts; step 4 post-trains
    it on its own rollouts (the preset's `posttrain` section, sized for 2 CPU cores); step 5 evaluates
    both on test episodes with paired seeds and writes the HTML report. Re-running resumes: finished
    episodes are not generated again, post-training continues from its last checkpoint, and scored
    models are not rolled out again.
    """
    from persistworld.assets import shipped_baseline
    from persistworld.cli.evaluate import print_evaluation
    from persistworld.cli.rollout import print_drift_table
    from persistworld.data.reader import EpisodeDataset
    from persistworld.data.visualize import show_episode
    from persistworld.evaluate.cli_run import run_evaluation
    from persistworld.rollout.cli_run import run_rollout

    cfg = load_config(preset, config, set_)
    data_root = out / "data"
    console.rule("[bold]1. simulator dataset")
    sim_command(out=data_root, workers=None, preset=preset, config=config, set_=set_)
    console.rule("[bold]2. look at an episode")
    split = cfg.data.val_split if cfg.sim.episodes.get(cfg.data.val_split) else next(iter(cfg.sim.episodes))
    dataset = EpisodeDataset(data_root, split)
    sheet, video = show_episode(dataset, dataset.episode_ids[0], out / "figures")
    console.print(f"contact sheet: {sheet}\nvideo: {video}")
    console.rule("[bold]3. world model: the shipped teacher-forced baseline, rolled out on held-out episodes")
    checkpoint = shipped_baseline()
    if checkpoint is None:
        console.print("this installation does not include persistworld/assets/baseline_demo/model.pt; skipped.")
        return
    cfg.data.root = data_root
    with console.status("rolling out 4 test episodes for 14 steps (own feedback and teacher-forced)"):
        summary = run_rollout(
            cfg, checkpoint, cfg.data.test_split, 4, 14, 0, 0, 2, out / "rollout", swapped_actions=False
        )
    print_drift_table(summary)
    console.rule("[bold]4. PersistWorld post-training of the baseline on its own rollouts")
    posttrained = posttrain_stage(cfg, checkpoint, out / "posttrain")
    console.rule("[bold]5. evaluation report: baseline vs post-trained (held-out test episodes, paired seeds)")
    names = ["teacher-forced baseline", "PersistWorld"]
    outputs = run_evaluation(cfg, [checkpoint, posttrained], names, out / "evaluate")
    print_evaluation(outputs.results)
    console.print(f"[bold]report:[/] {outputs.report}", soft_wrap=True)  # a path to copy, never wrapped


def posttrain_stage(cfg: PersistWorldConfig, base: Path, run_dir: Path) -> Path:
    """Post-train `base` into `run_dir`, resuming a started run and reusing a finished one."""
    from persistworld.cli.train import run_posttrain
    from persistworld.models.checkpoint import read_checkpoint

    final = run_dir / "model.pt"
    if final.is_file() and read_checkpoint(final).get("step") == cfg.posttrain.iterations:
        console.print(f"already post-trained for {cfg.posttrain.iterations} steps: {final}")
        return final
    return run_posttrain(cfg, base, run_dir, resume=(run_dir / "checkpoints" / "latest.pt").is_file())
