"""`persistworld posttrain`: PersistWorld RL post-training of a teacher-forced world model.

Per optimizer step: collect ``groups_per_step`` branching groups with the old policy (no gradients),
turn their rewards into optimality probabilities r, and minimise the x0-space contrastive objective
on each group's first clips, gradients accumulated over the groups; then soft-update the old policy.
Only the trained LoRA adapter and the action encoder learn (`persistworld.rl.adapters`).

What kept the toy run stable is built in (``../shared/reference/feasibility_toy_rl.md``):
- **common random numbers** (``crn``, default on): the K candidates of a group share one sigma and
  one noise in the loss, so the shared part of their gradients cancels (the advantages sum to zero)
  and what is left is the reward-relevant difference;
- rewards over at least 2 clips (`BranchingConfig.min_continuation`), lr 1e-4, several groups per step;
- the within-group reward spread is logged and a warning raised when candidates barely differ;
- a probe: episodes of the probe split (held out unless the config says otherwise), rolled out every
  ``probe_every`` steps; the best probe state is kept and, with ``rollback``, restored (and logged)
  when the probe degrades by more than ``rollback_tolerance``.

Checkpoints are atomic and ``--resume`` continues exactly (adapters, optimizer, random streams).
The result ``model.pt`` holds merged weights (of the best probe state with ``rollback``, else of the
last step): a plain checkpoint that `persistworld evaluate` compares with the baseline.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from persistworld.data.clips import ClipConfig
from persistworld.data.reader import EpisodeDataset
from persistworld.errors import PersistWorldError
from persistworld.metrics.reward import Reward, RewardConfig, RewardResult, reward_preset, signed_weights
from persistworld.metrics.suite import metric_info
from persistworld.models.checkpoint import WorldModelModule, load_world_model, save_checkpoint
from persistworld.models.edm import sample_training_sigma
from persistworld.models.protocol import Condition
from persistworld.models.sampler import SamplerConfig
from persistworld.rl.adapters import OLD, REFERENCE, LoraSettings, PolicyAdapters
from persistworld.rl.advantages import (
    AdvantageConfig,
    combine_terms,
    credit_to_clips,
    group_advantages,
    optimality_probability,
    within_group_spread,
)
from persistworld.rl.branching import BranchingConfig, Group, collect_group
from persistworld.rl.objective import ObjectiveConfig, contrastive_x0_loss
from persistworld.rl.plots import plot_posttrain
from persistworld.rollout.engine import EpisodeTrack, rollout
from persistworld.rollout.report import GROUPS
from persistworld.train.logger import MetricLogger
from persistworld.train.pretrain import data_layout, resolve_device
from persistworld.utils.atomic import atomic_path
from persistworld.utils.distributed import Distributed


@dataclass
class PosttrainConfig:
    """PersistWorld post-training. Defaults: the spec's (method_spec.md section 9) plus the toy run's fixes."""

    iterations: int = 200  # optimizer steps
    groups_per_step: int = 2  # groups (episode, branch point) whose gradients are accumulated per step
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    crn: bool = True  # common random numbers: one sigma and noise per group in the loss
    branching: BranchingConfig = field(default_factory=BranchingConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    advantages: AdvantageConfig = field(default_factory=AdvantageConfig)
    reward: RewardConfig = field(default_factory=lambda: reward_preset("demo"))
    lora: LoraSettings = field(default_factory=LoraSettings)
    probe_every: int = 25
    probe_episodes: int = 4
    probe_steps: int = 6  # rollout clips per probe episode
    rollback: bool = True
    rollback_tolerance: float = 0.01  # in reward units (the probe's mean reward)
    # None = off. A number g: a probe state counts as the best only if none of the reward's terms, per
    # camera group (external, wrist), is worse than at step 0 by more than g (relative, e.g. 0.002 =
    # 0.2 %), and with `rollback` a state that breaks this is rolled back. Why: the probe's summed reward
    # rose at every probe while the wrist's SSIM and HaarPSI fell (docs/results.md, seed 2).
    probe_guard: float | None = None
    # None = model selection and rollback compare the probe's reward. Otherwise they compare this weighted
    # sum of reward terms (each signed by its metric's direction; `rollback_tolerance` is then in its
    # units), e.g. {ssim: 1, haarpsi: 1} to select without PSNR. Why: on the simulator's seed 2 the
    # probe's SSIM + HaarPSI peaked at step 25 while its PSNR rose to step 100, and the summed reward kept
    # the later states that traded wrist structure for PSNR (docs/results.md, "A larger probe").
    selection_terms: dict[str, float] | None = None
    spread_warning: float = 0.002  # warn when within-group reward std / |mean| falls below this
    checkpoint_every: int = 25
    # Candidates per forward/backward pass of the update (0 = the whole group at once): bounds the
    # activation memory of big models (K = 16 on the full Ctrl-World) without changing the gradients.
    # Collection is bounded by the sampler's own `max_batch`.
    micro_batch: int = 0
    cached_episodes: int = 32  # training episodes kept decoded in memory
    seed: int = 0
    device: str = "auto"
    lpips_weights: Path | None = None

    def __post_init__(self) -> None:
        for name in ("iterations", "groups_per_step", "probe_every", "checkpoint_every", "probe_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1. Got {getattr(self, name)}.")
        if self.probe_guard is not None and self.probe_guard < 0:
            raise ValueError(f"`probe_guard` must be >= 0 (a relative drop) or None (off). Got {self.probe_guard}.")
        if self.selection_terms is not None:
            scored = sorted(name for name, weight in self.reward.terms.items() if weight > 0)
            unknown = sorted(set(self.selection_terms) - set(scored))
            if unknown:
                raise ValueError(f"`selection_terms` {unknown}: the probe scores only the reward's terms {scored}.")
            weights = self.selection_terms.values()
            if any(weight < 0 for weight in weights) or not any(weight > 0 for weight in weights):
                raise ValueError(
                    f"`selection_terms` {self.selection_terms}: weights are magnitudes (>= 0), at least one positive."
                )
        if self.micro_batch < 0:
            raise ValueError(f"`micro_batch` must be >= 0 (0 = the whole group). Got {self.micro_batch}.")
        if self.advantages.view_credit == "camera_group":
            weights = self.reward.view_weights
            for group, views in GROUPS.items():
                if max(views) >= len(weights) or sum(weights[v] for v in views) <= 0:
                    raise ValueError(
                        f"`advantages.view_credit = camera_group` needs a positive reward.view_weights entry for the "
                        f"{group} views {list(views)}; got view_weights {list(weights)}."
                    )


class _Tracks:
    """Training episodes loaded on demand, the most recent ones kept (decoding is the slow part)."""

    def __init__(self, dataset: EpisodeDataset, capacity: int):
        self.dataset, self.capacity, self.cache = dataset, capacity, OrderedDict()

    def __call__(self, episode_id: str) -> EpisodeTrack:
        if episode_id not in self.cache:
            self.cache[episode_id] = EpisodeTrack.load(self.dataset, episode_id)
            while len(self.cache) > self.capacity:
                self.cache.popitem(last=False)
        self.cache.move_to_end(episode_id)
        return self.cache[episode_id]


def group_backward(
    model: WorldModelModule, adapters: PolicyAdapters, group: Group, r: torch.Tensor, config: PosttrainConfig,
    generator: torch.Generator, scale: float = 1.0,
) -> dict[str, float]:  # fmt: skip
    """Backpropagate `scale` x the contrastive loss of one group's training clips; returns the loss parts.

    The first clips (SWITCH-A), or with ``train_clips = "all"`` the mean of the loss over every clip of
    the continuation (SWITCH-B), each clip with its own sigma and noise, drawn in clip order. `r` is
    (K,) or (K, C): column j weights clip j, and one column (C = 1) weights every clip; with a last
    dim of camera groups (``view_credit = "camera_group"``) each group's r weights its views' pixels.
    """
    clips = group.training_clips()
    r = r[:, None] if r.dim() == 1 else r
    parts: dict[str, float] = {}
    for j, (cond, x0) in enumerate(clips):
        clip_r = r[:, min(j, r.shape[1] - 1)]
        if clip_r.dim() == 2:  # (K, camera groups): each camera group's r on its own views' pixels
            clip_r = r_on_target(clip_r, model.target_views(cond))
        clip_parts = clip_backward(model, adapters, cond, x0, clip_r, config, generator, scale / len(clips))
        for key, value in clip_parts.items():
            parts[key] = parts.get(key, 0.0) + value / len(clips)
    return parts


def clip_backward(
    model: WorldModelModule, adapters: PolicyAdapters, cond: Condition, x0: torch.Tensor, r: torch.Tensor,
    config: PosttrainConfig, generator: torch.Generator, scale: float,
) -> dict[str, float]:  # fmt: skip
    """Backpropagate `scale` x the contrastive loss of one clip of K candidates; returns the loss parts.

    D_old and D_ref run without gradients. The candidates go through the model `config.micro_batch`
    at a time (0 = all K at once): sigma and noise are drawn for the whole group first and the loss is
    a mean over candidates, so each chunk's loss is weighted by its share of the group and the
    gradients equal the unchunked ones up to float summation order.
    """
    k = x0.shape[0]
    device = x0.device
    edm = model.config.edm
    if config.crn:  # one sigma and one noise for the whole group: the shared part cancels
        sigma = sample_training_sigma(1, edm, generator, device).expand(k)
        noise = torch.randn(x0.shape[1:], generator=generator, device=device).expand_as(x0)
    else:
        sigma = sample_training_sigma(k, edm, generator, device)
        noise = torch.randn(x0.shape, generator=generator, device=device)
    x_sigma = x0 + sigma.view(-1, *[1] * (x0.dim() - 1)) * noise
    size = config.micro_batch or k
    parts: dict[str, float] = {}
    for start in range(0, k, size):
        rows = slice(start, min(start + size, k))
        share = (rows.stop - rows.start) / k
        chunk = cond if size >= k else cond.select(list(range(rows.start, rows.stop)))
        d_theta = model.denoise(x_sigma[rows], sigma[rows], chunk)
        with torch.no_grad():
            with adapters.use(OLD):
                d_old = model.denoise(x_sigma[rows], sigma[rows], chunk)
            d_ref = None
            if config.objective.kl_weight > 0:
                with adapters.use(REFERENCE):
                    d_ref = model.denoise(x_sigma[rows], sigma[rows], chunk)
        loss, chunk_parts = contrastive_x0_loss(d_theta, d_old, x0[rows], r[rows], config.objective, d_ref=d_ref)
        (loss * (share * scale)).backward()
        for key, value in chunk_parts.items():
            parts[key] = parts.get(key, 0.0) + value * share
    return parts


def r_on_target(r: torch.Tensor, target_views: torch.Tensor) -> torch.Tensor:
    """(K, camera groups) r and the target's view map (`WorldModel.target_views`) -> (K, ...) r per element."""
    camera_of_view = torch.zeros(int(target_views.max()) + 1, dtype=torch.long, device=r.device)
    for column, views in enumerate(GROUPS.values()):
        camera_of_view[list(views)] = column
    cameras = camera_of_view[target_views.to(r.device)]  # the target's view map, in camera-group columns
    return r[:, cameras.flatten()].reshape(r.shape[0], *cameras.shape[1:])


def group_totals(collected: list[Group]) -> torch.Tensor:
    """(G, K) reward totals of the collected groups."""
    return torch.stack([g.reward.total for g in collected])


def group_rewards(collected: list[Group], reward: Reward, config: AdvantageConfig, clips: int) -> torch.Tensor:
    """(G, K, C) scores the advantages are computed from, per group, candidate and trained clip.

    With ``clip_credit = "candidate"``, C = 1: one score per candidate for all its clips, the reward's
    total or, with ``normalize_terms``, each term (mean over the continuation's clips) z-scored within
    its group and then weighted with its sign. Otherwise C = `clips` (the longest continuation): clip
    j's credited score (`credit_to_clips`), its terms z-scored over the K candidates' j-th clips with
    ``normalize_terms``; NaN past a group's own L clips, so that every rank gathers one shape.
    With ``view_credit = "camera_group"``: (G, K, C, camera groups), the same scores of each camera
    group's reward (its views alone, with their `view_weights`), in `GROUPS` order.
    """
    if config.view_credit == "all":
        return credited_scores([g.reward for g in collected], reward, config, clips)
    per_camera = [
        credited_scores([reward.of_views(g.reward.per_frame, views) for g in collected], reward, config, clips)
        for views in GROUPS.values()
    ]
    return torch.stack(per_camera, -1)


def credited_scores(results: list[RewardResult], reward: Reward, config: AdvantageConfig, clips: int) -> torch.Tensor:
    """(G, K, C) scores of the groups' rewards `results` (see `group_rewards`)."""
    if config.clip_credit == "candidate":
        if not config.normalize_terms:
            return torch.stack([result.total for result in results])[..., None]
        terms = {name: torch.stack([result.terms[name].mean(-1) for result in results]) for name in reward.weights}
        return combine_terms(terms, reward.signed_weights, config)[..., None]
    rows = []
    for result in results:
        if config.normalize_terms:  # combine_terms z-scores along dim 1: put the K candidates there
            terms = {name: credit_to_clips(result.terms[name], config.clip_credit).T for name in reward.weights}
            scores = combine_terms(terms, reward.signed_weights, config).T
        else:
            scores = credit_to_clips(result.per_clip, config.clip_credit)
        rows.append(torch.nn.functional.pad(scores, (0, clips - scores.shape[1]), value=math.nan))
    return torch.stack(rows)


@torch.no_grad()
def probe_score(
    model: WorldModelModule, tracks: list[EpisodeTrack], clips: ClipConfig, sampler: SamplerConfig, steps: int,
    reward: Reward, seed: int, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Held-out rollouts of the trained policy from frame 0, scored.

    Returns the reward, each of its terms, and each term per camera group (``external_ssim``,
    ``wrist_ssim``, ...: the raw metric), which `probe_guard_failures` compares with step 0.
    """
    result = rollout(model, tracks, [0] * len(tracks), clips, sampler, steps, seed=seed, device=device)
    f = clips.num_future
    views = result.predicted.shape[2:]
    shaped = result.predicted.reshape(len(tracks), steps, f, *views)
    scores = reward(shaped, result.ground_truth.reshape(len(tracks), steps, f, *views))
    per_camera = {
        f"{group}_{name}": float(values[..., list(group_views)].mean())
        for name, values in scores.per_frame.items()
        for group, group_views in GROUPS.items()
    }  # fmt: skip
    return {"reward": float(scores.total.mean()), **{k: float(v.mean()) for k, v in scores.terms.items()}, **per_camera}


def selection_score(scores: dict[str, float], terms: dict[str, float] | None) -> float:
    """What model selection and rollback compare: the probe's reward, or the weighted sum of `terms`.

    Each term is signed by its metric's direction, as in the reward, so that a higher score is better.
    """
    if terms is None:
        return scores["reward"]
    return sum(w * scores[n] for n, w in signed_weights(terms).items())


def probe_guard_failures(scores: dict[str, float], start: dict[str, float], tolerance: float) -> list[str]:
    """The per-camera-group probe terms (``<group>_<metric>``) worse than at step 0 by more than `tolerance`.

    `tolerance` is relative to the step-0 value; the metric's direction decides what "worse" is
    (a distance such as LPIPS or GMSD got worse when it rose).
    """
    failed = []
    for key, before in start.items():
        group, _, metric = key.partition("_")
        if group not in GROUPS or key not in scores:
            continue
        gain = scores[key] - before if metric_info(metric).higher_is_better else before - scores[key]
        if gain < -tolerance * abs(before):
            failed.append(key)
    return failed


@dataclass
class StepWork:
    """One optimizer step's work list: (episode id, group seed) per group, the same on every rank."""

    groups: list[tuple[str, int]]

    @classmethod
    def draw(cls, rng: np.random.Generator, episodes: list[str], count: int) -> StepWork:
        """`count` groups: a random training episode each, and the seed that decides everything else."""
        return cls([(episodes[int(rng.integers(len(episodes)))], int(rng.integers(2**31))) for _ in range(count)])


def posttrain(
    run_dir: str | Path,
    base_checkpoint: str | Path,
    dataset_root: str | Path,
    splits: tuple[str, str],
    resolution: tuple[int, int],
    clips: ClipConfig,
    probe_sampler: SamplerConfig,
    config: PosttrainConfig,
    *,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> Path:
    """Post-train `base_checkpoint`; returns ``<run_dir>/model.pt`` (merged weights, see the module doc).

    Under `torchrun` the groups of a step are split over the processes; the result equals the
    1-process run's up to float summation order (`persistworld.utils.distributed`). Rank 0 probes,
    logs and writes; `on_step` is called on rank 0 only. `on_start` (rank 0 only) is called once every
    input (base checkpoint, data, resume state) has been checked and before anything is written, e.g. to
    save the run's config: a run that fails on its inputs leaves no folder behind.
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    parallel = Distributed.from_environment(device)
    device = parallel.device(device)
    parallel.share(range(config.groups_per_step))  # fail early when the groups do not split evenly
    layout = data_layout(resolution, clips)
    model, stats, _ = load_world_model(base_checkpoint, expected_layout=layout, device=device)
    model.eval()  # no dropout; the adapters are what changes
    adapters = PolicyAdapters(model, config.lora)
    optimizer = torch.optim.AdamW(adapters.trainable_parameters(), lr=config.lr, weight_decay=config.weight_decay)
    reward = Reward(config.reward, device, lpips_weights=config.lpips_weights)
    train_set = EpisodeDataset(dataset_root, splits[0], resolution=resolution, stats=stats)
    held_out = EpisodeDataset(dataset_root, splits[1], resolution=resolution, stats=stats)
    episodes = train_set.episode_ids
    tracks = _Tracks(train_set, config.cached_episodes)
    probe_tracks = [EpisodeTrack.load(held_out, i) for i in held_out.episode_ids[: config.probe_episodes]]
    checkpoints = run_dir / "checkpoints"
    step, rng = 0, np.random.default_rng(config.seed)
    best: dict = {"score": -math.inf, "step": 0, "state": adapters.state_dict()}

    def log(stream: str, values: dict[str, float]) -> None:
        if logger is not None:
            logger.log(stream, step, values)

    def selected(score: float) -> dict[str, float]:  # logged only where it is not the reward itself
        return {} if config.selection_terms is None else {"selection": score}

    def probe() -> dict[str, float]:
        scores = None
        if parallel.is_main:
            scores = probe_score(
                model, probe_tracks, clips, probe_sampler, config.probe_steps, reward, config.seed, device
            )
        return parallel.broadcast(scores)

    latest = checkpoints / "latest.pt"
    saved = None
    if resume:
        if not latest.is_file():
            raise PersistWorldError(f"{run_dir}: --resume given, but there is no {latest}.")
        saved = torch.load(latest, map_location=device, weights_only=False)
        if config.probe_guard is not None and "start" not in saved["best"]:
            raise PersistWorldError(
                f"{run_dir}: this run was started without the per-camera probe values that `probe_guard` "
                "compares with; resume it without probe_guard, or start a new run."
            )
        if (before := saved.get("config", {}).get("selection_terms")) != config.selection_terms:
            raise PersistWorldError(
                f"{run_dir}: this run selected states by selection_terms = {before}; "
                f"its best state's score cannot be compared with {config.selection_terms}. Resume it with the same "
                "selection_terms, or start a new run."
            )
    elif latest.exists():
        raise PersistWorldError(f"{run_dir} already holds a post-training run. Pass --resume, or a new --run-dir.")
    # Every input is checked; only now does the run write anything.
    if on_start is not None and parallel.is_main:
        on_start()
    logger = MetricLogger(run_dir) if parallel.is_main else None

    if saved is not None:
        adapters.load_state_dict(saved["adapters"])
        optimizer.load_state_dict(saved["optimizer"])
        step, best = saved["step"], saved["best"]
        rng.bit_generator.state = saved["rng"]
        if logger is not None:
            logger.truncate_after(step)
    else:
        initial = probe()
        score = selection_score(initial, config.selection_terms)
        best = {"score": score, "step": 0, "state": adapters.state_dict(), "start": initial}
        log("probe", initial | selected(score) | {"best": score, "best_step": 0, "rolled_back": 0, "guard_failed": 0})

    def save() -> None:
        if not parallel.is_main:
            return
        with atomic_path(checkpoints / "latest.pt", suffix=".pt") as tmp:
            torch.save({
                "adapters": adapters.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "best": best,
                "rng": rng.bit_generator.state, "config": asdict(config),
            }, tmp)  # fmt: skip

    started = time.perf_counter()
    while step < config.iterations:
        work = StepWork.draw(rng, episodes, config.groups_per_step)
        logs = optimization_step(model, adapters, optimizer, work, tracks, clips, reward, config, parallel, device)
        step += 1
        logs |= {"eta": adapters.soft_update_old(step), "old_divergence": adapters.old_divergence()}
        logs["seconds"] = time.perf_counter() - started
        log("train", logs)
        if step % config.probe_every == 0 or step == config.iterations:
            scores = probe()
            score = selection_score(scores, config.selection_terms)
            guard = config.probe_guard
            failed = [] if guard is None else probe_guard_failures(scores, best["start"], guard)
            rolled_back = 0
            if score > best["score"] and not failed:
                best = best | {"score": score, "step": step, "state": adapters.state_dict()}
            elif config.rollback and (failed or score < best["score"] - config.rollback_tolerance):
                adapters.load_state_dict(best["state"])
                rolled_back = 1
            outcome = {"best": best["score"], "best_step": best["step"], "rolled_back": rolled_back,
                       "guard_failed": len(failed)}  # fmt: skip
            log("probe", scores | selected(score) | outcome)
            if parallel.is_main:
                plot_posttrain(run_dir, probe_split=splits[1])
            logs |= {"probe_reward": scores["reward"], "rolled_back": rolled_back}
        if step % config.checkpoint_every == 0 or step == config.iterations:
            save()
        if on_step is not None and parallel.is_main:
            on_step(step, logs)

    if config.rollback:  # the result is the best probe state; without rollback, the last state
        adapters.load_state_dict(best["state"])
    final = run_dir / "model.pt"
    if parallel.is_main:
        plain = type(model)(model.config, model.layout)
        plain.load_state_dict(adapters.merged_state_dict())
        compared = "reward" if config.selection_terms is None else "selection"
        save_checkpoint(
            final, plain, stats, step=step, posttrain_config=asdict(config), base_checkpoint=str(base_checkpoint),
            best_probe={"step": best["step"], compared: best["score"]},
            selected="best probe" if config.rollback else "last",
            data={"root": str(dataset_root), "splits": list(splits)}, world_size=parallel.world_size,
        )  # fmt: skip
        logger.close()
    parallel.barrier()
    parallel.close()
    return final


def optimization_step(
    model: WorldModelModule, adapters: PolicyAdapters, optimizer: torch.optim.Optimizer, work: StepWork,
    tracks: Callable[[str], EpisodeTrack], clips: ClipConfig, reward: Reward, config: PosttrainConfig,
    parallel: Distributed, device: torch.device,
) -> dict[str, float]:  # fmt: skip
    """Collect this rank's share of the step's groups, normalise rewards over all groups, update; returns logs."""
    mine = parallel.share(work.groups)
    with adapters.use(OLD):
        collected = [
            collect_group(model, tracks(episode), clips, config.branching, reward, seed, device)
            for episode, seed in mine
        ]
    longest = config.branching.max_continuation
    scores = parallel.gather_rows(group_rewards(collected, reward, config.advantages, longest))  # (G, K, C)
    advantages = group_advantages(scores, config.advantages)
    # What is logged (and warned about) is the reward itself: with `normalize_terms` the scores are
    # sums of z-scores, whose mean is 0 and whose spread says nothing about how much candidates differ.
    rewards = parallel.gather_rows(group_totals(collected))
    r = optimality_probability(advantages, config.advantages.clip)
    kept = advantages[advantages.isfinite()]  # without the clips that shorter continuations lack
    total = len(work.groups)
    updating = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    parts: dict[str, float] = {"prefix": 0.0}
    for group, group_r, (_, seed) in zip(collected, parallel.share(r), mine, strict=True):
        generator = torch.Generator(device).manual_seed(seed + 2)  # collection used seed and seed + 1
        group_parts = group_backward(model, adapters, group, group_r, config, generator, scale=1 / total)
        for key, value in group_parts.items():
            parts[key] = parts.get(key, 0.0) + value / total
        parts["prefix"] += group.prefix / total
    parallel.sum_gradients(adapters.trainable_parameters())
    parts = parallel.sum_values(parts)
    if not math.isfinite(parts["loss"]):
        raise PersistWorldError(f"the post-training loss became {parts['loss']}; stopped.")
    grad_norm = torch.nn.utils.clip_grad_norm_(adapters.trainable_parameters(), config.grad_clip or math.inf)
    optimizer.step()
    timing = {  # this rank's seconds in each stage
        "time_rollout": sum(g.rollout_seconds for g in collected),
        "time_reward": sum(g.reward_seconds for g in collected),
        "time_update": time.perf_counter() - updating,
    }
    spread = within_group_spread(rewards)
    return parts | timing | {
        "reward_mean": float(rewards.mean()), "reward_std_within": float(rewards.std(1).mean()), "spread": spread,
        "r_clipped": float(((kept <= -config.advantages.clip) | (kept >= config.advantages.clip)).float().mean()),
        "advantage_p10": float(kept.quantile(0.1)), "advantage_p90": float(kept.quantile(0.9)),
        "grad_norm": float(grad_norm),
        "low_spread_warning": float(spread < config.spread_warning),
    }  # fmt: skip
