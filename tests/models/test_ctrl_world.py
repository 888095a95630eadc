"""The Ctrl-World backend with the `tiny` preset on CPU: every code path, checkpoint mapping, loading errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from diffusers import UNetSpatioTemporalConditionModel  # noqa: E402

from persistworld.data.clips import ClipConfig  # noqa: E402
from persistworld.data.reader import EpisodeDataset  # noqa: E402
from persistworld.metrics.reward import RewardConfig  # noqa: E402
from persistworld.models.checkpoint import load_world_model, save_checkpoint  # noqa: E402
from persistworld.models.compact import ModelLayout  # noqa: E402
from persistworld.models.ctrl_world.config import CTRL_WORLD_PRESETS, TINY_UNET  # noqa: E402
from persistworld.models.ctrl_world.loading import (  # noqa: E402
    CtrlWorldLoadError,
    from_local_folders,
    load_ctrl_world_checkpoint,
)
from persistworld.models.ctrl_world.model import CtrlWorldModel  # noqa: E402
from persistworld.models.ctrl_world.network import FrameTokenUNet  # noqa: E402
from persistworld.models.protocol import Condition  # noqa: E402
from persistworld.models.sampler import SamplerConfig, sample  # noqa: E402
from persistworld.rl.adapters import PolicyAdapters  # noqa: E402
from persistworld.rl.advantages import AdvantageConfig  # noqa: E402
from persistworld.rl.branching import BranchingConfig  # noqa: E402
from persistworld.rl.posttrain import PosttrainConfig, posttrain  # noqa: E402
from persistworld.rollout.engine import EpisodeTrack, rollout  # noqa: E402
from persistworld.train.pretrain import data_layout  # noqa: E402
from persistworld.train.step import StepConfig, teacher_forced_loss  # noqa: E402

RESOLUTION = (32, 48)  # per view; latents 4x6, stacked 12x6
CLIPS = ClipConfig(history=(0, 0, -8, -6, -4, -2), num_future=4)  # Ctrl-World's 6 history + 1 + 4
LAYOUT = data_layout(RESOLUTION, CLIPS)


def tiny_model(seed: int = 0, text: bool = True) -> CtrlWorldModel:
    torch.manual_seed(seed)
    config = CTRL_WORLD_PRESETS["tiny"]()
    return CtrlWorldModel(config if text else replace(config, text=None), LAYOUT).eval()


def condition(batch: int = 2, seed: int = 0, texts: list[str] | None = None) -> Condition:
    g = torch.Generator().manual_seed(seed)
    h, w = RESOLUTION
    return Condition(
        history=torch.rand(batch, 6, 3, 3, h, w, generator=g) * 2 - 1,
        current=torch.rand(batch, 3, 3, h, w, generator=g) * 2 - 1,
        history_actions=torch.rand(batch, 6, 7, generator=g) * 2 - 1,
        actions=torch.rand(batch, 5, 7, generator=g) * 2 - 1,
        action_mask=torch.ones(batch),
        texts=texts,
    )


def test_frame_token_forward_equals_diffusers_when_every_frame_has_the_same_token():
    torch.manual_seed(0)
    ours = FrameTokenUNet(**TINY_UNET).eval()
    reference = UNetSpatioTemporalConditionModel(**TINY_UNET).eval()
    reference.load_state_dict(ours.state_dict())
    sample, token = torch.randn(2, 11, 8, 12, 6), torch.randn(2, 1, 1024)
    timestep, ids = torch.tensor([0.3, -0.5]), torch.tensor([[7.0, 127.0, 0.0]] * 2)
    with torch.no_grad():
        expected = reference(sample, timestep, token, ids).sample
        got = ours(sample, timestep, token.expand(2, 11, 1024), ids)
        different = ours(sample, timestep, torch.randn(2, 11, 1024), ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(different, expected, atol=1e-3)  # per-frame tokens do reach the frames


def test_shapes_through_encode_denoise_decode_and_the_condition_checks():
    model, cond = tiny_model(), condition()
    future = torch.rand(2, 4, 3, 3, *RESOLUTION) * 2 - 1
    x0 = model.encode(future, cond)
    assert x0.shape == model.target_shape(cond) == (2, 5, 4, 12, 6)  # current + 4 future latent frames
    torch.testing.assert_close(x0[:, 0], model.encode_frames(cond.current))  # the current frame leads
    denoised = model.denoise(x0 + torch.randn_like(x0), torch.tensor([0.5, 2.0]), cond)
    assert denoised.shape == x0.shape and torch.isfinite(denoised).all()
    frames = model.decode(denoised, cond)
    assert frames.shape == (2, 4, 3, 3, *RESOLUTION) and frames.abs().max() <= 1
    dropped = model.denoise(x0, torch.tensor([0.5, 2.0]), cond.unconditional())
    assert not torch.allclose(dropped, model.denoise(x0, torch.tensor([0.5, 2.0]), cond))  # CFG branch differs
    with pytest.raises(ValueError, match="history"):
        model.denoise(x0, torch.ones(2), Condition(**{**cond.__dict__, "history": cond.history[:, :4]}))
    with pytest.raises(ValueError, match="divisible by 8"):
        CtrlWorldModel(CTRL_WORLD_PRESETS["tiny"](), ModelLayout(resolution=(30, 48), num_history=6))
    with pytest.raises(ValueError, match="num_frames"):
        CtrlWorldModel(CTRL_WORLD_PRESETS["tiny"](), ModelLayout(resolution=RESOLUTION, num_history=4))


def test_conditioning_latents_are_cached_per_tensor_and_refreshed_when_it_changes():
    model, cond = tiny_model(), condition()
    x0, sigma = torch.randn(model.target_shape(cond)), torch.ones(2)
    first = model.denoise(x0, sigma, cond)
    calls = []
    original = model.encode_frames
    model.encode_frames = lambda frames: calls.append(frames.shape) or original(frames)
    torch.testing.assert_close(model.denoise(x0, sigma, cond), first)
    assert calls == []  # history and current latents came from the cache
    cond.history.mul_(-1)  # in place: the version counter moves, the cache must not be used
    assert not torch.allclose(model.denoise(x0, sigma, cond), first)
    assert calls == [cond.history.shape]


def test_guided_sampling_encodes_the_condition_once_for_all_steps_and_both_branches():
    model, cond = tiny_model(), condition()
    calls = []
    original = model.encode_frames
    model.encode_frames = lambda frames: calls.append(frames.shape[0]) or original(frames)
    config = SamplerConfig(num_steps=3, cfg_scale=2.0, cfg_scale_first=1.0)
    noise = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(0))
    batched = sample(model, cond, config, noise=noise).x0
    assert calls == [4, 4]  # history and current of the 2 x 2 rows (conditional + unconditional), once
    separate = sample(model, cond, replace(config, batch_guidance=False), noise=noise).x0
    torch.testing.assert_close(batched, separate, atol=1e-4, rtol=1e-4)


def test_gradient_checkpointing_recomputes_the_unet_blocks_and_gives_the_same_gradients(monkeypatch):
    cond = condition()
    x0, sigma = torch.randn(tiny_model().target_shape(cond)), torch.tensor([0.5, 2.0])
    calls = []
    checkpoint = torch.utils.checkpoint.checkpoint
    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", lambda *a, **k: calls.append(1) or checkpoint(*a, **k))
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        model = CtrlWorldModel(replace(CTRL_WORLD_PRESETS["tiny"](), gradient_checkpointing=checkpointing), LAYOUT)
        model.train()
        model.denoise(x0, sigma, cond).square().mean().backward()
        gradients.append(torch.cat([p.grad.flatten() for p in model.network.parameters() if p.grad is not None]))
        assert bool(calls) == checkpointing  # the blocks went through torch.utils.checkpoint
    torch.testing.assert_close(gradients[1], gradients[0], atol=1e-6, rtol=1e-5)


def test_bf16_precision_runs_the_unet_and_vae_in_bf16_and_returns_float32():
    """The GPU path's autocast, exercised on the CPU (`precision="bf16"` forces it on any device)."""
    fp32, cond = tiny_model(), condition()
    bf16 = CtrlWorldModel(replace(CTRL_WORLD_PRESETS["tiny"](), precision="bf16"), LAYOUT).eval()
    bf16.load_state_dict(fp32.state_dict())
    seen: list[torch.dtype] = []
    bf16.network.unet.conv_in.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    bf16.vae.encoder.conv_in.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    x0, sigma = torch.randn(fp32.target_shape(cond)), torch.tensor([0.5, 2.0])
    with torch.no_grad():
        expected, got = fp32.denoise(x0, sigma, cond), bf16.denoise(x0, sigma, cond)
        frames = bf16.decode(got, cond)
    assert seen == [torch.bfloat16, torch.bfloat16, torch.bfloat16]  # VAE (history, current), then U-Net
    assert got.dtype == frames.dtype == torch.float32
    error = (got - expected).abs().max() / expected.abs().max()
    assert 0 < error < 0.05  # bf16 arithmetic, not a different model
    auto = CtrlWorldModel(CTRL_WORLD_PRESETS["tiny"](), LAYOUT).eval()  # "auto": float32 on the CPU
    auto.load_state_dict(fp32.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(auto.denoise(x0, sigma, cond), expected, atol=0, rtol=0)
    with pytest.raises(ValueError, match="precision"):
        replace(CTRL_WORLD_PRESETS["tiny"](), precision="fp16")


def test_lora_targets_are_the_unet_attention_projections_only():
    model = tiny_model()
    # every attention runs through torch's fused scaled_dot_product_attention (the GPU path's flash kernels)
    assert {type(p).__name__ for p in model.network.unet.attn_processors.values()} == {"AttnProcessor2_0"}
    targets = model.lora_targets()
    modules = dict(model.named_modules())
    assert targets and all(t.startswith("network.unet.") and t in modules for t in targets)
    assert {t.rsplit(".", 1)[-1] for t in targets} >= {"to_q", "to_k", "to_v"}
    adapters = PolicyAdapters(model, PosttrainConfig().lora)
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n or n.startswith("network.action_encoder.") for n in trained)
    assert not any(n.startswith("vae.") for n in trained) and adapters.layers


def ctrl_world_state_dict(model: CtrlWorldModel) -> dict[str, torch.Tensor]:
    """`model`'s weights under Ctrl-World's own key names, with its unused encoders."""
    renamed = {
        "network.unet.": "unet.", "network.action_encoder.": "action_encoder.", "vae.": "vae.",
        "text_encoder.": "text_encoder.",
    }  # fmt: skip
    state = {}
    for key, value in model.state_dict().items():
        prefix = next(p for p in renamed if key.startswith(p))
        state[renamed[prefix] + key[len(prefix) :]] = value.clone()
    state["image_encoder.vision_model.embeddings.class_embedding"] = torch.zeros(32)
    return state


def test_a_ctrl_world_state_dict_loads_and_gives_the_same_outputs(tmp_path: Path):
    source, target, cond = tiny_model(seed=1), tiny_model(seed=2), condition(texts=["put the cup in the bowl", ""])
    torch.save(ctrl_world_state_dict(source), tmp_path / "ctrl_world.pt")
    x0, sigma = torch.randn(source.target_shape(cond)), torch.tensor([0.3, 4.0])
    assert not torch.allclose(target.denoise(x0, sigma, cond), source.denoise(x0, sigma, cond))
    report = load_ctrl_world_checkpoint(target, tmp_path / "ctrl_world.pt")
    assert report.skipped == {"image_encoder": 1}
    # equal outputs need the text tower's weights too: the instruction enters every token
    torch.testing.assert_close(target.denoise(x0, sigma, cond), source.denoise(x0, sigma, cond))
    frames = torch.rand(1, 2, 3, 3, *RESOLUTION) * 2 - 1
    torch.testing.assert_close(target.encode_frames(frames), source.encode_frames(frames))

    broken = ctrl_world_state_dict(source)
    broken.pop("action_encoder.action_encode.0.weight")
    broken["unet.conv_in.weight"] = torch.zeros(1)
    broken["mystery.weight"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CtrlWorldLoadError, match="mystery.weight"):
        load_ctrl_world_checkpoint(target, tmp_path / "broken.pt")
    broken.pop("mystery.weight")
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(CtrlWorldLoadError, match=r"missing.*action_encode\.0\.weight.*another shape.*conv_in"):
        load_ctrl_world_checkpoint(target, tmp_path / "broken.pt")
    with pytest.raises(CtrlWorldLoadError, match="not found"):
        load_ctrl_world_checkpoint(target, tmp_path / "absent.pt")


def test_an_svd_folder_in_diffusers_layout_builds_the_backend(tmp_path: Path):
    source = tiny_model(seed=3, text=False)  # without a CLIP folder the backend conditions on actions alone
    svd = write_svd_folder(source, tmp_path / "svd")
    torch.save(ctrl_world_state_dict(source), tmp_path / "ctrl_world.pt")
    model, _ = from_local_folders(svd, LAYOUT, tmp_path / "ctrl_world.pt")
    cond = condition()
    x0, sigma = torch.randn(model.target_shape(cond)), torch.ones(2)
    torch.testing.assert_close(model.eval().denoise(x0, sigma, cond), source.denoise(x0, sigma, cond))
    assert model.config.unet["num_frames"] == 11 and model.config.unet["block_out_channels"] == [32, 64]
    (svd / "vae" / "config.json").unlink()
    with pytest.raises(CtrlWorldLoadError, match=r"vae/config.json not found(.|\n)*unet/config.json"):
        from_local_folders(svd, LAYOUT)


def test_teacher_forced_step_rollout_and_checkpoint_round_trip(tmp_path: Path):
    model, cond = tiny_model(), condition()
    from persistworld.data.clips import ClipBatch, ClipId

    batch = ClipBatch(
        history=cond.history, current=cond.current, future=torch.rand(2, 4, 3, 3, *RESOLUTION) * 2 - 1,
        history_actions=cond.history_actions, actions=cond.actions,
        future_is_pad=torch.tensor([[False] * 4, [False, False, True, True]]), texts=["", ""],
        clip_ids=[ClipId("train", "0", 0)] * 2,
    )  # fmt: skip
    model.train()
    loss, _ = teacher_forced_loss(model, batch, model.config.edm, StepConfig(), torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and model.network.unet.conv_in.weight.grad is not None
    assert all(p.grad is None for p in model.vae.parameters())  # the VAE stays frozen
    model.eval()
    length = 3 * 4 + 1
    track = EpisodeTrack("0", torch.rand(length, 3, 3, *RESOLUTION) * 2 - 1, torch.rand(length, 7) * 2 - 1)
    result = rollout(model, [track], [0], CLIPS, SamplerConfig(num_steps=2, cfg_scale=1.5), 3, candidates=2)
    assert result.predicted.shape == (2, 12, 3, 3, *RESOLUTION)
    assert not torch.allclose(result.predicted[0], result.predicted[1])  # candidates differ by their noise
    import numpy as np

    from persistworld.data.stats import StateStats

    save_checkpoint(tmp_path / "m.pt", model, StateStats(low=-np.ones(7), high=np.ones(7)))
    loaded, _, payload = load_world_model(tmp_path / "m.pt", expected_layout=LAYOUT)
    assert payload["backend"] == "ctrl_world" and isinstance(loaded, CtrlWorldModel)
    x0, sigma = torch.randn(model.target_shape(cond)), torch.ones(2)
    torch.testing.assert_close(loaded.denoise(x0, sigma, cond), model.denoise(x0, sigma, cond))


def test_target_views_mark_each_views_rows_of_the_latent_height():
    model, cond = tiny_model(), condition()
    future = torch.rand(2, 4, 3, 3, *RESOLUTION) * 2 - 1
    wrist_changed = future.clone()
    wrist_changed[:, :, 2] = torch.rand(2, 4, 3, *RESOLUTION) * 2 - 1
    change = (model.encode(wrist_changed, cond) - model.encode(future, cond)).abs().amax(dim=(0, 1, 2, 4))
    views = model.target_views(cond).flatten()
    assert views.shape == change.shape and views.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert (change[views == 2] > 1e-3).all() and (change[views != 2] < 1e-6).all()


@pytest.mark.parametrize("view_credit", ["all", "camera_group"])
def test_an_rl_iteration_runs_with_this_backend(episode_factory, tmp_path: Path, view_credit: str):
    episode_factory(n_episodes=1, n_frames=20, split="val", size=RESOLUTION)
    root = episode_factory(n_episodes=2, n_frames=20, split="train", size=RESOLUTION)
    base = tmp_path / "base.pt"
    save_checkpoint(base, tiny_model(), EpisodeDataset(root, "train").stats)
    config = PosttrainConfig(
        iterations=1, groups_per_step=1, probe_every=1, probe_episodes=1, probe_steps=1, device="cpu", rollback=False,
        branching=BranchingConfig(candidates=2, max_prefix=1), reward=RewardConfig(terms={"ssim": 1.0}),
        advantages=AdvantageConfig(view_credit=view_credit),
    )  # fmt: skip
    final = posttrain(tmp_path / "rl", base, root, ("train", "val"), RESOLUTION, CLIPS, SamplerConfig(), config)
    trained, _, _ = load_world_model(final)
    start, _, _ = load_world_model(base)
    changed = [k for k, v in trained.state_dict().items() if not torch.equal(v, start.state_dict()[k])]
    assert changed and all(k.startswith("network.") for k in changed)  # LoRA merged into the U-Net, encoder


def test_the_instruction_changes_the_tokens_and_each_text_is_embedded_once():
    model = tiny_model()
    cond = condition(texts=["open the drawer", "open the drawer"])
    same_actions = condition(texts=["open the drawer", "close the drawer"])
    same_actions.actions, same_actions.history_actions = cond.actions, cond.history_actions
    tokens = model.action_tokens(cond)
    other = model.action_tokens(same_actions)
    torch.testing.assert_close(tokens[0], other[0])
    assert not torch.allclose(tokens[1], other[1])  # only the instruction differs
    # Ctrl-World adds the 512-d embedding, tiled to 1024, to every frame's action token
    embedding = model.text_encoder(
        **model._texts.tokenizer(["open the drawer"], padding="max_length", max_length=77, return_tensors="pt")
    ).text_embeds
    states = torch.cat([cond.history_actions, cond.actions], dim=1)
    expected = model.network.action_encoder(states[:1]) + embedding.repeat(1, 2)[:, None]
    torch.testing.assert_close(tokens[:1], expected)
    assert not model.action_tokens(cond.unconditional()).any()  # CFG drops the text with the actions

    calls = []
    forward = model.text_encoder.forward
    model.text_encoder.forward = lambda **kw: calls.append(kw["input_ids"].shape[0]) or forward(**kw)
    model.action_tokens(same_actions)
    assert calls == []  # both texts were cached
    with torch.no_grad():  # new weights (as load_state_dict or an optimizer writes them): the cache is stale
        model.text_encoder.text_projection.weight.mul_(2)
    model.action_tokens(same_actions)
    assert calls == [2]
    no_text = CtrlWorldModel(replace(CTRL_WORLD_PRESETS["tiny"](), text=None), LAYOUT)
    assert no_text.text_encoder is None and no_text.action_tokens(cond).shape == tokens.shape


def write_svd_folder(model: CtrlWorldModel, folder: Path) -> Path:
    """`model`'s U-Net and VAE as a diffusers SVD folder."""
    model.network.unet.save_pretrained(folder / "unet")
    model.vae.save_pretrained(folder / "vae")
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableVideoDiffusionPipeline"}))
    return folder


def write_clip_folder(model: CtrlWorldModel, folder: Path) -> Path:
    """`model`'s text tower inside a full transformers CLIP folder (tiny vision tower), with its tokenizer."""
    from transformers import CLIPConfig, CLIPModel

    from persistworld.models.ctrl_world.text import TINY_TEXT, byte_level_tokenizer

    vision = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37,
              "image_size": 32, "patch_size": 8}  # fmt: skip
    clip_model = CLIPModel(CLIPConfig(text_config=dict(TINY_TEXT), vision_config=vision, projection_dim=512))
    clip_model.text_model.load_state_dict(model.text_encoder.text_model.state_dict())
    clip_model.text_projection.load_state_dict(model.text_encoder.text_projection.state_dict())
    clip_model.save_pretrained(folder)
    byte_level_tokenizer().save_pretrained(folder)
    return folder


def test_a_clip_folder_gives_the_text_tower_and_its_tokenizer(tmp_path: Path):
    from persistworld.models.ctrl_world.text import TINY_TEXT

    source = tiny_model(seed=4)
    svd, clip = write_svd_folder(source, tmp_path / "svd"), write_clip_folder(source, tmp_path / "clip")
    torch.save(ctrl_world_state_dict(source), tmp_path / "ctrl_world.pt")

    model, report = from_local_folders(svd, LAYOUT, clip_folder=clip)
    assert model.config.tokenizer == str(clip) and report.skipped == {}
    texts = ["wipe the table", ""]  # the action encoder is random (not part of SVD); compare the text embeddings
    torch.testing.assert_close(model._texts(model.text_encoder, texts), source._texts(source.text_encoder, texts))

    no_text, report = from_local_folders(svd, LAYOUT, tmp_path / "ctrl_world.pt")
    assert no_text.text_encoder is None and report.skipped == {"image_encoder": 1, "text_encoder": 21}

    full_text = replace(CTRL_WORLD_PRESETS["tiny"](), text=dict(TINY_TEXT, vocab_size=49408))
    real_vocab = CtrlWorldModel(full_text, LAYOUT)
    state = {k: v for k, v in ctrl_world_state_dict(real_vocab).items() if not k.startswith("image_encoder.")}
    torch.save(state, tmp_path / "real_vocab.pt")
    with pytest.raises(CtrlWorldLoadError, match="49408-token vocabulary.*tokenizer"):
        load_ctrl_world_checkpoint(real_vocab, tmp_path / "real_vocab.pt")
    (clip / "model.safetensors").unlink()
    with pytest.raises(CtrlWorldLoadError, match="model.safetensors not found"):
        from_local_folders(svd, LAYOUT, clip_folder=clip)


def test_pretrain_resume_and_evaluate_commands_run_this_backend_on_real_droid_frames(droid_mini: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from persistworld.cli import app

    runner, run_dir = CliRunner(), tmp_path / "pretrain"
    data = ["--preset", "droid", "--set", f"data.root={droid_mini}", "--set", "data.resolution=[32,48]"]
    schedule = [
        "--set", "pretrain.batch_size=2", "--set", "pretrain.probe.num_clips=2", "--set", "pretrain.probe_every=2",
        "--set", "pretrain.checkpoint_every=2", "--set", "pretrain.log_every=1",
    ]  # fmt: skip
    pretrain = ["pretrain", "--model", "ctrl_world_tiny", "--run-dir", str(run_dir), *data, *schedule]
    result = runner.invoke(app, [*pretrain, "--set", "pretrain.steps=2"])
    assert result.exit_code == 0, result.output
    model, _, payload = load_world_model(run_dir / "model.pt")
    assert isinstance(model, CtrlWorldModel) and payload["step"] == 2 and model.config.name == "tiny"
    assert model.text_encoder is not None  # Ctrl-World conditions on the instruction by default

    wrong = runner.invoke(app, ["pretrain", "--resume", "--model", "tiny", "--run-dir", str(run_dir), *data])
    assert wrong.exit_code != 0 and "CtrlWorldConfig model and the config asks for a CompactConfig" in str(
        wrong.exception
    )
    result = runner.invoke(app, [*pretrain, "--resume", "--set", "pretrain.steps=3"])
    assert result.exit_code == 0, result.output
    assert load_world_model(run_dir / "model.pt")[2]["step"] == 3

    out = tmp_path / "evaluate"
    command = ["evaluate", *data, "--episodes", "1", "--steps", "1", "--videos", "0", "--out", str(out),
               "--checkpoint", str(run_dir / "model.pt")]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())["summary"]
    assert len(summary) == 2 and all(0 < s["wrist"]["ssim"]["mean"] <= 1 for s in summary.values())  # + copy baseline


def test_import_ctrl_world_writes_a_checkpoint_that_the_other_commands_load(droid_mini: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from persistworld.cli import app

    source = tiny_model(seed=5)
    svd, clip = write_svd_folder(source, tmp_path / "svd"), write_clip_folder(source, tmp_path / "clip")
    torch.save(ctrl_world_state_dict(source), tmp_path / "ctrl_world.pt")
    out = tmp_path / "imported.pt"
    data = ["--preset", "droid", "--set", f"data.root={droid_mini}", "--set", "data.resolution=[32,48]"]
    command = ["import-ctrl-world", "--svd-folder", str(svd), "--clip-folder", str(clip),
               "--checkpoint", str(tmp_path / "ctrl_world.pt"), "--out", str(out), *data]  # fmt: skip
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "skipped 1 tensors under `image_encoder.*`" in result.output

    model, stats, payload = load_world_model(out)
    assert isinstance(model, CtrlWorldModel) and payload["source"]["svd_folder"] == str(svd)
    assert stats.low.tolist() == EpisodeDataset(droid_mini, "train").stats.low.tolist()
    cond = condition(texts=["open the drawer", ""])
    x0, sigma = torch.randn(model.target_shape(cond)), torch.ones(2)
    torch.testing.assert_close(model.eval().denoise(x0, sigma, cond), source.denoise(x0, sigma, cond))

    missing = tmp_path / "missing.pt"  # a data root without stat.json: refused before anything is written
    no_stats = CliRunner().invoke(app, ["import-ctrl-world", "--svd-folder", str(svd), "--out", str(missing),
                                        "--preset", "droid", "--set", f"data.root={tmp_path}"])  # fmt: skip
    assert no_stats.exit_code != 0 and "stat.json" in str(no_stats.exception) and not missing.exists()
