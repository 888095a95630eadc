"""`posttrain` end to end on tiny episodes: it learns, logs, probes, rolls back, checkpoints and resumes exactly."""

from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.reader import EpisodeDataset
from persistworld.metrics.reward import Reward, RewardConfig
from persistworld.models.checkpoint import load_world_model, save_checkpoint
from persistworld.models.compact import COMPACT_PRESETS, CompactWorldModel
from persistworld.models.sampler import SamplerConfig
from persistworld.rl.adapters import OLD, PolicyAdapters
from persistworld.rl.advantages import AdvantageConfig
from persistworld.rl.branching import BranchingConfig, collect_group
from persistworld.rl.objective import ObjectiveConfig
from persistworld.rl.posttrain import PosttrainConfig, group_backward, posttrain
from persistworld.rollout.engine import EpisodeTrack
from persistworld.train.logger import read_stream
from persistworld.train.pretrain import data_layout

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
SINGLE_NODE = {"MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
RESOLUTION = (16, 24)
CLIPS = ClipConfig(history=(0, -4, -2), num_future=2)


@pytest.fixture
def setup(episode_factory, tmp_path: Path) -> tuple[Path, Path]:
    episode_factory(n_episodes=2, n_frames=16, split="val")
    root = episode_factory(n_episodes=3, n_frames=16, split="train")
    torch.manual_seed(0)
    model = CompactWorldModel(COMPACT_PRESETS["tiny"](), data_layout(RESOLUTION, CLIPS))
    for parameter in model.parameters():  # a base model whose output depends on its inputs
        torch.nn.init.normal_(parameter, std=0.05)
    base = tmp_path / "base.pt"
    save_checkpoint(base, model, EpisodeDataset(root, "train").stats)
    return root, base


def config(iterations: int, **overrides) -> PosttrainConfig:
    values = dict(
        iterations=iterations, groups_per_step=2, probe_every=2, checkpoint_every=1, probe_episodes=2, probe_steps=2,
        branching=BranchingConfig(candidates=4, max_prefix=1, min_continuation=2, max_continuation=2),
        reward=RewardConfig(terms={"ssim": 1.0, "psnr": 1 / 32}), device="cpu", rollback=False,
    )  # fmt: skip
    return PosttrainConfig(**{**values, **overrides})


def run(run_dir: Path, setup, cfg: PosttrainConfig, **kwargs) -> Path:
    root, base = setup
    return posttrain(
        run_dir, base, root, ("train", "val"), RESOLUTION, CLIPS, SamplerConfig(num_steps=1), cfg, **kwargs
    )


def test_posttrain_updates_adapters_logs_and_writes_a_plain_checkpoint(setup, tmp_path: Path):
    final = run(tmp_path / "run", setup, config(4))
    model, _, payload = load_world_model(final, expected_layout=data_layout(RESOLUTION, CLIPS))
    base, _, _ = load_world_model(setup[1])
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert moved  # the merged adapters and the action encoder changed the weights
    assert payload["best_probe"]["step"] in (0, 2, 4) and payload["base_checkpoint"] == str(setup[1])
    train = read_stream(tmp_path / "run", "train")
    assert [row["step"] for row in train] == [1, 2, 3, 4]
    for key in ("loss", "loss_policy", "reward_mean", "spread", "r_clipped", "eta", "old_divergence", "grad_norm"):
        assert key in train[-1], key
    assert train[0]["eta"] == pytest.approx(0.001) and train[-1]["old_divergence"] > 0
    assert [row["step"] for row in read_stream(tmp_path / "run", "probe")] == [0, 2, 4]
    assert (tmp_path / "run" / "curves.png").stat().st_size > 10_000  # the curves are drawn at every probe


def test_with_normalised_terms_the_logs_still_show_the_reward_itself(setup, tmp_path: Path):
    run(tmp_path / "run", setup, config(1, advantages=AdvantageConfig(normalize_terms=True)))
    logged = read_stream(tmp_path / "run", "train")[0]
    # summed z-scores have mean 0 (spread ~1e7 % was logged before); SSIM + PSNR/32 of these frames is positive
    assert logged["reward_mean"] > 0.1 and logged["spread"] < 0.5


def test_micro_batches_in_collection_and_update_give_the_same_training(setup, tmp_path: Path):
    root, base = setup
    layout = data_layout(RESOLUTION, CLIPS)

    def train(name: str, chunk: int) -> tuple[list[dict], dict]:
        collection = SamplerConfig(num_steps=2, max_batch=chunk)
        branching = BranchingConfig(
            candidates=4, max_prefix=1, min_continuation=2, max_continuation=2, sampler=collection
        )
        cfg = config(2, micro_batch=chunk, branching=branching, objective=ObjectiveConfig(kl_weight=0.1))  # KL too
        probe = SamplerConfig(num_steps=1, max_batch=chunk)
        final = posttrain(tmp_path / name, base, root, ("train", "val"), RESOLUTION, CLIPS, probe, cfg)
        return read_stream(tmp_path / name, "train"), load_world_model(final, expected_layout=layout)[0].state_dict()

    whole_logs, whole = train("whole", 0)
    chunked_logs, chunked = train("chunked", 3)  # K = 4 in chunks of 3 and 1
    for a, b in zip(whole_logs, chunked_logs, strict=True):
        for key in ("loss", "kl", "reward_mean", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-7), key
    # The weights: the two runs' updates agree to 1 % of the largest update. (Adam divides by the root
    # of the squared gradients, so a gradient component near 0 turns summation-order noise into a
    # visible relative difference; a fixed absolute tolerance on the weights failed at 1.3e-6 on one
    # of 1536 entries with a new install.)
    start = load_world_model(base, expected_layout=layout)[0].state_dict()
    updates = {key: (chunked[key] - start[key], value - start[key]) for key, value in whole.items()}
    largest = max(float(b.abs().max()) for _, b in updates.values())
    assert largest > 1e-5  # the runs did train
    for key, (a, b) in updates.items():
        torch.testing.assert_close(a, b, atol=0.01 * largest, rtol=0, msg=key)
    with pytest.raises(ValueError, match="micro_batch"):
        config(1, micro_batch=-1)


def adapter_gradients(model, adapters: PolicyAdapters, cfg: PosttrainConfig, groups: list, weights: list[torch.Tensor]):
    """The adapters' gradient and the loss of `group_backward` over `groups`, one noise generator through them."""
    parameters = adapters.trainable_parameters()
    for p in parameters:
        p.grad = None
    generator, loss = torch.Generator().manual_seed(0), 0.0
    for g, w in zip(groups, weights, strict=True):  # one generator through the clips, as group_backward draws
        loss += group_backward(model, adapters, g, w, cfg, generator)["loss"]
    return torch.cat([p.grad.flatten() for p in parameters if p.grad is not None]), loss


def test_camera_group_credit_weights_each_cameras_pixels_by_its_own_r(setup, tmp_path: Path):
    root, base = setup
    model, _, _ = load_world_model(base, expected_layout=data_layout(RESOLUTION, CLIPS))
    dataset = EpisodeDataset(root, "train")
    track = EpisodeTrack.load(dataset, dataset.episode_ids[0])
    cfg = config(1, advantages=AdvantageConfig(view_credit="camera_group"))
    adapters = PolicyAdapters(model, cfg.lora)
    with adapters.use(OLD):
        group = collect_group(model, track, CLIPS, cfg.branching, Reward(cfg.reward), seed=5)
    # the compact target keeps the frames' view dim, which target_views marks: frames equal to their view's
    # index, over a zero current frame, are a target equal to target_views
    cond = replace(group.cond.select([0]), current=group.cond.current[:1] * 0)
    frames = torch.arange(3.0).view(1, 1, 3, 1, 1, 1).expand(1, 2, 3, 3, *RESOLUTION)
    target = model.encode(frames, cond)
    torch.testing.assert_close(target, model.target_views(cond).to(target.dtype).expand_as(target))
    r = torch.tensor([0.2, 0.4, 0.6, 0.8])
    plain, plain_loss = adapter_gradients(model, adapters, cfg, [group], [r])
    same, same_loss = adapter_gradients(model, adapters, cfg, [group], [r[:, None, None].expand(4, 1, 2)])
    torch.testing.assert_close(same, plain)  # both cameras with the candidate's r: the spec's loss
    assert same_loss == pytest.approx(plain_loss)
    split, _ = adapter_gradients(model, adapters, cfg, [group], [torch.stack([r, r.flip(0)], -1)[:, None]])
    assert not torch.allclose(split, plain)  # the wrist's own r changes the update
    final = run(tmp_path / "run", setup, cfg)  # and a whole run trains with it
    logged = read_stream(tmp_path / "run", "train")[0]
    assert math.isfinite(logged["loss"]) and logged["grad_norm"] > 0
    trained, start = load_world_model(final)[0].state_dict(), load_world_model(base)[0].state_dict()
    assert any(not torch.equal(value, start[key]) for key, value in trained.items())


def test_switch_b_trains_on_the_mean_loss_of_every_clip(setup):
    root, base = setup
    model, _, _ = load_world_model(base, expected_layout=data_layout(RESOLUTION, CLIPS))
    cfg = config(1, branching=BranchingConfig(candidates=4, max_prefix=1, min_continuation=2, max_continuation=2,
                                               train_clips="all"))  # fmt: skip
    adapters = PolicyAdapters(model, cfg.lora)
    track = EpisodeTrack.load(EpisodeDataset(root, "train"), EpisodeDataset(root, "train").episode_ids[0])
    reward = Reward(cfg.reward)
    with adapters.use(OLD):
        group = collect_group(model, track, CLIPS, cfg.branching, reward, seed=5)
    assert len(group.training_clips()) == 2
    r = torch.tensor([0.2, 0.4, 0.6, 0.8])

    def gradients(groups: list, weights: list[torch.Tensor]) -> tuple[torch.Tensor, float]:
        return adapter_gradients(model, adapters, cfg, groups, weights)

    both, loss = gradients([group], [r])
    ((cond, x0),) = group.later
    first, second = replace(group, later=[]), replace(group, cond=cond, x0=x0, later=[])
    separate, separate_loss = gradients([first, second], [r, r])
    torch.testing.assert_close(both, separate / 2)
    assert loss == pytest.approx(separate_loss / 2)
    only_first, _ = gradients([first], [r])
    assert not torch.allclose(both, only_first)  # the later clip contributes
    # per-clip credit (clip_credit != "candidate"): column j of r weights clip j
    per_clip = torch.stack([r, r.flip(0)], dim=1)
    credited, _ = gradients([group], [per_clip])
    separate, _ = gradients([first, second], [per_clip[:, 0], per_clip[:, 1]])
    torch.testing.assert_close(credited, separate / 2)
    assert not torch.allclose(credited, both)


def test_resume_continues_exactly(setup, tmp_path: Path):
    run(tmp_path / "straight", setup, config(4))
    run(tmp_path / "split", setup, config(2))
    run(tmp_path / "split", setup, config(4), resume=True)
    straight = [(r["step"], r["loss"], r["reward_mean"]) for r in read_stream(tmp_path / "straight", "train")]
    split = [(r["step"], r["loss"], r["reward_mean"]) for r in read_stream(tmp_path / "split", "train")]
    assert [s for s, _, _ in split] == [1, 2, 3, 4]
    assert [value for row in split for value in row[1:]] == pytest.approx([v for row in straight for v in row[1:]])
    with pytest.raises(Exception, match="already holds a post-training run"):
        run(tmp_path / "split", setup, config(4))
    latest = tmp_path / "split" / "checkpoints" / "latest.pt"
    saved = torch.load(latest, weights_only=False)
    del saved["best"]["start"]  # a run from before the guard, which logged no per-camera start values
    torch.save(saved, latest)
    with pytest.raises(Exception, match="without the per-camera probe values"):
        run(tmp_path / "split", setup, config(6, probe_guard=0.002), resume=True)
    assert [r["step"] for r in read_stream(tmp_path / "split", "train")] == [1, 2, 3, 4]  # nothing written


def test_resuming_a_finished_run_without_rollback_exports_its_last_state(setup, tmp_path: Path, monkeypatch):
    """The recipe docs/posttrain.md gives for the state that model selection did not keep."""
    import persistworld.rl.posttrain as module

    later = itertools.count()
    monkeypatch.setattr(module, "probe_score", lambda *args, **kwargs: {"reward": -float(next(later))})
    never_rolls_back = config(4, rollback=True, rollback_tolerance=1e9)  # every probe is worse: step 0 is kept
    selected = run(tmp_path / "selected", setup, never_rolls_back)
    shutil.copytree(tmp_path / "selected" / "checkpoints", tmp_path / "exported" / "checkpoints")
    exported = run(tmp_path / "exported", setup, config(4, rollback=False), resume=True)
    last = run(tmp_path / "last", setup, config(4, rollback=False))  # the same training, keeping the last state
    exported_model, _, payload = load_world_model(exported)
    assert payload["selected"] == "last" and payload["step"] == 4
    assert load_world_model(selected)[2]["best_probe"]["step"] == 0
    exported_weights, last_weights = exported_model.state_dict(), load_world_model(last)[0].state_dict()
    selected_weights = load_world_model(selected)[0].state_dict()
    assert any(not torch.equal(value, selected_weights[name]) for name, value in exported_weights.items())
    for name, value in exported_weights.items():
        torch.testing.assert_close(value, last_weights[name], rtol=0, atol=0)


def test_a_degrading_probe_rolls_back_to_the_best_state(setup, tmp_path: Path, monkeypatch):
    import persistworld.rl.posttrain as module

    scores = iter([1.0, 0.5, 0.4])  # step 0, 2, 4: worse and worse
    monkeypatch.setattr(module, "probe_score", lambda *args, **kwargs: {"reward": next(scores)})
    final = run(tmp_path / "run", setup, config(4, rollback=True))
    probes = read_stream(tmp_path / "run", "probe")
    assert [p["rolled_back"] for p in probes] == [0, 1, 1] and probes[-1]["best_step"] == 0
    model, _, _ = load_world_model(final)
    base, _, _ = load_world_model(setup[1])
    for key, value in base.state_dict().items():  # the best state is the untouched base model
        assert torch.allclose(model.state_dict()[key], value, atol=1e-6), key


def test_the_probe_guard_keeps_a_state_whose_reward_rose_while_one_camera_fell(setup, tmp_path: Path, monkeypatch):
    import persistworld.rl.posttrain as module

    probes = iter([  # step 0, 2, 4: the reward rises; at step 2 the wrist's SSIM falls by 0.3 %, at 4 it is back
        {"reward": 1.0, "external_ssim": 0.80, "wrist_ssim": 0.700, "wrist_gmsd": 0.30},
        {"reward": 1.1, "external_ssim": 0.81, "wrist_ssim": 0.698, "wrist_gmsd": 0.30},
        {"reward": 1.2, "external_ssim": 0.81, "wrist_ssim": 0.700, "wrist_gmsd": 0.29},
    ])  # fmt: skip
    monkeypatch.setattr(module, "probe_score", lambda *args, **kwargs: next(probes))
    run(tmp_path / "run", setup, config(4, rollback=True, probe_guard=0.002))
    logged = read_stream(tmp_path / "run", "probe")
    assert [p["guard_failed"] for p in logged] == [0, 1, 0]
    assert [p["rolled_back"] for p in logged] == [0, 1, 0]  # the step-2 state is not kept...
    assert [p["best_step"] for p in logged[1:]] == [0, 4]  # ...and the later, guard-passing one is


def test_probe_guard_failures_follow_each_metrics_direction():
    from persistworld.rl.posttrain import probe_guard_failures

    start = {"reward": 2.0, "ssim": 0.75, "external_ssim": 0.8, "wrist_ssim": 0.7, "wrist_gmsd": 0.3}
    now = {"reward": 2.1, "ssim": 0.70, "external_ssim": 0.81, "wrist_ssim": 0.698, "wrist_gmsd": 0.3003}
    assert probe_guard_failures(now, start, 0.002) == ["wrist_ssim"]  # -0.29 %; the overall terms are not guarded
    assert probe_guard_failures(now, start, 0.003) == []
    assert probe_guard_failures(now, start, 0.0005) == ["wrist_ssim", "wrist_gmsd"]  # GMSD is a distance: up is worse
    with pytest.raises(ValueError, match="probe_guard"):
        config(1, probe_guard=-0.1)


def test_selection_terms_choose_states_by_their_own_sum(setup, tmp_path: Path, monkeypatch):
    """The reward rises at every probe while SSIM falls after step 2: selecting on SSIM alone keeps step 2."""
    import persistworld.rl.posttrain as module

    rows = [{"reward": 1.0, "ssim": 0.70, "psnr": 20.0}, {"reward": 1.1, "ssim": 0.71, "psnr": 21.0},
            {"reward": 1.2, "ssim": 0.69, "psnr": 24.0}]  # fmt: skip
    for terms, kept in ((None, 4), ({"ssim": 1.0}, 2)):
        probes = iter(rows)
        monkeypatch.setattr(module, "probe_score", lambda *args, probes=probes, **kwargs: dict(next(probes)))
        final = run(tmp_path / str(kept), setup, config(4, rollback=True, selection_terms=terms))
        logged = read_stream(tmp_path / str(kept), "probe")
        assert logged[-1]["best_step"] == kept
        assert load_world_model(final)[2]["best_probe"]["step"] == kept
    assert [p["selection"] for p in logged] == pytest.approx([0.70, 0.71, 0.69])  # logged where it is not the reward
    assert load_world_model(final)[2]["best_probe"]["selection"] == pytest.approx(0.71)
    with pytest.raises(Exception, match="selected states by selection_terms"):  # a resume may not change the rule
        run(tmp_path / "2", setup, config(6, rollback=True, selection_terms={"psnr": 1.0}), resume=True)


def test_selection_score_follows_each_metrics_direction_and_the_config_checks_its_terms():
    from persistworld.rl.posttrain import selection_score

    scores = {"reward": 2.0, "ssim": 0.8, "gmsd": 0.3, "psnr": 20.0}
    assert selection_score(scores, None) == 2.0
    assert selection_score(scores, {"ssim": 1.0, "psnr": 1 / 32}) == pytest.approx(0.8 + 20 / 32)
    assert selection_score(scores, {"gmsd": 2.0}) == pytest.approx(-0.6)  # a distance: lower is better
    with pytest.raises(ValueError, match=r"\['haarpsi'\]: the probe scores only the reward's terms"):
        config(1, selection_terms={"ssim": 1.0, "haarpsi": 1.0})  # the test reward is SSIM + PSNR
    with pytest.raises(ValueError, match="at least one positive"):
        config(1, selection_terms={"ssim": 0.0})


def cli_overrides(root: Path, *extra: str) -> list[str]:
    """`--set` arguments for a tiny run on the `setup` episodes."""
    values = [
        f"data.root={root}", "data.resolution=[16,24]", "clips.history=[0,-4,-2]", "clips.num_future=2",
        "posttrain.iterations=2", "posttrain.probe_every=2", "posttrain.probe_episodes=1", "posttrain.probe_steps=1",
        "posttrain.branching.candidates=2", "posttrain.branching.max_prefix=0", "posttrain.device=cpu",
        "posttrain.reward.terms.haarpsi=0", "sampler.draws=1", *extra,
    ]  # fmt: skip
    return [arg for value in values for arg in ("--set", value)]


def test_the_cli_runs_posttrain_from_config_overrides(setup, tmp_path: Path):
    from typer.testing import CliRunner

    from persistworld.cli import app

    root, base = setup
    args = ["posttrain", "--base", str(base), "--run-dir", str(tmp_path / "cli"), *cli_overrides(root)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert (tmp_path / "cli" / "model.pt").is_file() and (tmp_path / "cli" / "config.yaml").is_file()
    assert "model (merged adapters)" in result.output


def test_a_posttrain_run_that_fails_on_its_inputs_leaves_no_folder(setup, tmp_path: Path):
    from typer.testing import CliRunner

    from persistworld.cli import app

    root, base = setup
    runner = CliRunner()
    missing_data = runner.invoke(app, ["posttrain", "--base", str(base), "--run-dir", str(tmp_path / "a"),
                                       *cli_overrides(tmp_path / "nowhere")])  # fmt: skip
    assert missing_data.exit_code != 0 and "not found" in str(missing_data.exception)
    not_started = runner.invoke(app, ["posttrain", "--base", str(base), "--run-dir", str(tmp_path / "b"), "--resume",
                                      *cli_overrides(root)])  # fmt: skip
    assert not_started.exit_code != 0 and "there is no" in str(not_started.exception)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(setup, tmp_path: Path):
    """`torchrun` with 2 CPU processes (gloo) against 1 process: 4 groups per step, split 2 + 2.

    Global-std advantages need every rank's rewards (gathered), here per clip (SWITCH-B with the
    reward to go) with continuations of 1 or 2 clips, so the gathered scores carry NaN for the clips
    a group lacks; the probe and its rollback decision come from rank 0 (broadcast). Tolerance: the
    ranks sum gradients in another order than one process does, and each runs 1 thread instead of 2,
    so agreement is to float32 rounding (losses to 1e-4 relative, weights to 1e-5), not bit for bit.
    """
    root, base = setup
    overrides = cli_overrides(
        root, "posttrain.iterations=3", "posttrain.groups_per_step=4", "posttrain.branching.candidates=3",
        "posttrain.branching.max_prefix=1", "posttrain.advantages.std=global", "posttrain.rollback=true",
        "posttrain.probe_every=1", "posttrain.rollback_tolerance=0", "posttrain.branching.min_continuation=1",
        "posttrain.branching.train_clips=all", "posttrain.advantages.clip_credit=to_go",
    )  # fmt: skip
    runs = {"one": [sys.executable, "-m", "persistworld"], "two": [*TORCHRUN, "-m", "persistworld"]}
    for name, launcher in runs.items():
        command = [*launcher, "posttrain", "--base", str(base), "--run-dir", str(tmp_path / name), *overrides]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=os.environ | SINGLE_NODE)
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = (read_stream(tmp_path / name, "train") for name in runs)
    assert [row["step"] for row in two] == [1, 2, 3]
    for key in ("loss", "loss_policy", "reward_mean", "reward_std_within", "grad_norm", "prefix"):
        assert [row[key] for row in two] == pytest.approx([row[key] for row in one], rel=1e-4, abs=1e-7), key
    probe_one, probe_two = (read_stream(tmp_path / name, "probe") for name in runs)
    assert [p["reward"] for p in probe_two] == pytest.approx([p["reward"] for p in probe_one], rel=1e-5)
    assert [p["rolled_back"] for p in probe_two] == [p["rolled_back"] for p in probe_one]
    model_one, _, _ = load_world_model(tmp_path / "one" / "model.pt")
    model_two, _, payload = load_world_model(tmp_path / "two" / "model.pt")
    base_model, _, _ = load_world_model(base)
    assert any(not torch.equal(v, base_model.state_dict()[k]) for k, v in model_one.state_dict().items())
    for key, value in model_one.state_dict().items():
        torch.testing.assert_close(model_two.state_dict()[key], value, atol=1e-5, rtol=1e-4, msg=key)
    assert payload["world_size"] == 2
