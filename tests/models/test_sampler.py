"""EDM sampler: grid, identity at sigma_min, correct distribution, determinism, guidance."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from helpers.gaussian_model import GaussianWorldModel, random_condition
from persistworld.models.sampler import SamplerConfig, karras_sigmas, sample


def test_karras_grid_runs_from_sigma_max_to_sigma_min_then_zero():
    sigmas = karras_sigmas(10, 0.002, 80.0, 7.0)
    assert sigmas.shape == (11,) and sigmas[-1] == 0
    torch.testing.assert_close(sigmas[[0, -2]], torch.tensor([80.0, 0.002]))
    assert (sigmas[:-1].diff() < 0).all()


def test_sampler_turns_data_at_sigma_min_into_itself():
    model = GaussianWorldModel(std=0.3)
    cond = random_condition()
    data = model.mean(cond) + 0.3 * torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(1))
    config = SamplerConfig(num_steps=1, sigma_min=1e-4, sigma_max=2e-3)
    result = sample(model, cond, config, noise=data / config.sigma_max)
    torch.testing.assert_close(result.x0, data, atol=1e-4, rtol=0)


@pytest.mark.parametrize(("order", "tolerance"), [(1, 0.04), (2, 0.005)])  # Heun is far more exact than Euler
def test_sampler_draws_from_the_data_distribution(order: int, tolerance: float):
    model = GaussianWorldModel(std=0.3, action_gain=0.0)
    cond = random_condition(batch=64)
    config = SamplerConfig(num_steps=24, order=order, sigma_max=10.0)
    x0 = sample(model, cond, config, generator=torch.Generator().manual_seed(0)).x0
    assert abs(float(x0.mean())) < 0.01
    assert abs(float(x0.std()) - 0.3) < tolerance  # neither collapsed to the mean nor left noisy


def test_same_seed_same_sample_and_rows_do_not_depend_on_the_batch():
    model = GaussianWorldModel()
    cond = random_condition(batch=2)
    config = SamplerConfig(num_steps=4, s_churn=1.0)  # churn draws noise every step too

    def generators(*seeds):
        return [torch.Generator().manual_seed(s) for s in seeds]

    a = sample(model, cond, config, generator=generators(1, 2)).x0
    b = sample(model, cond, config, generator=generators(1, 2)).x0
    assert torch.equal(a, b)
    c = sample(model, cond, config, generator=generators(1, 3)).x0
    assert torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])
    with pytest.raises(ValueError, match="generators"):
        sample(model, cond, config, generator=generators(1))


def test_x0_is_recorded_for_every_step():
    model = GaussianWorldModel()
    result = sample(model, random_condition(), SamplerConfig(num_steps=5, order=2), generator=torch.Generator())
    assert len(result.x0_per_step) == 5


def test_guidance_scale_interpolates_between_unconditional_and_conditional():
    model = GaussianWorldModel(std=0.05, action_gain=0.5)
    cond = random_condition()
    noise = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(0))

    def run(scale: float) -> torch.Tensor:
        return sample(model, cond, SamplerConfig(num_steps=8, cfg_scale=scale), noise=noise).x0

    conditional = sample(model, cond, SamplerConfig(num_steps=8), noise=noise).x0
    unconditional = sample(model, cond.unconditional(), SamplerConfig(num_steps=8), noise=noise).x0
    assert not torch.allclose(conditional, unconditional, atol=1e-3)
    torch.testing.assert_close(run(0.0), unconditional)
    torch.testing.assert_close(run(2.0), 2 * conditional - unconditional, atol=1e-5, rtol=0)


def test_a_guidance_ramp_weights_each_frame_linearly_from_first_to_last():
    model = GaussianWorldModel(std=0.05, action_gain=0.5)
    cond = random_condition()
    noise = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(0))
    one_step = SamplerConfig(num_steps=1)
    conditional = sample(model, cond, one_step, noise=noise).x0
    unconditional = sample(model, cond.unconditional(), one_step, noise=noise).x0
    ramped = sample(model, cond, SamplerConfig(num_steps=1, cfg_scale=2.0, cfg_scale_first=0.5), noise=noise).x0
    frames = conditional.shape[1]
    for f, weight in enumerate(torch.linspace(0.5, 2.0, frames).tolist()):
        expected = unconditional[:, f] + weight * (conditional[:, f] - unconditional[:, f])
        torch.testing.assert_close(ramped[:, f], expected, atol=1e-5, rtol=0)


def test_averaged_draws_are_the_mean_of_consecutive_draws_and_approach_the_posterior_mean():
    model = GaussianWorldModel(std=0.3, action_gain=0.0)
    cond = random_condition(batch=8)
    config = SamplerConfig(num_steps=12, sigma_max=10.0)
    generator = torch.Generator().manual_seed(3)
    singles = [sample(model, cond, config, generator=generator).x0 for _ in range(4)]
    averaged = sample(model, cond, SamplerConfig(num_steps=12, sigma_max=10.0, draws=4),
                      generator=torch.Generator().manual_seed(3)).x0  # fmt: skip
    torch.testing.assert_close(averaged, torch.stack(singles).mean(0))
    many = sample(model, cond, SamplerConfig(num_steps=12, sigma_max=10.0, draws=64), generator=generator).x0
    error = lambda x: float((x - model.mean(cond)).pow(2).mean())  # noqa: E731
    assert error(many) < error(singles[0]) / 16  # posterior-mean estimate: variance falls as 1 / draws
    with pytest.raises(ValueError, match="explicit `noise` gives one draw"):
        sample(model, cond, SamplerConfig(draws=2), noise=torch.zeros(model.target_shape(cond)))
    with pytest.raises(ValueError, match="`draws` must be >= 1"):
        SamplerConfig(draws=0)


def test_row_chunks_bound_the_model_batch_and_give_the_same_samples():
    model = GaussianWorldModel(std=0.05, action_gain=0.5)
    cond = random_condition(batch=5)
    noise = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(0))
    config = SamplerConfig(num_steps=3, order=2, cfg_scale=1.5)
    whole = sample(model, cond, config, noise=noise).x0
    batches = []
    denoise = model.denoise
    model.denoise = lambda x, sigma, c: batches.append(len(c)) or denoise(x, sigma, c)
    chunked = sample(model, cond, SamplerConfig(num_steps=3, order=2, cfg_scale=1.5, max_batch=2), noise=noise).x0
    torch.testing.assert_close(chunked, whole)
    assert max(batches) == 4 and sum(batches) == 5 * 2 * 5  # 5 rows x (cond + uncond) x 5 Heun evaluations
    with pytest.raises(ValueError, match="max_batch"):
        SamplerConfig(max_batch=-1)


def test_batched_guidance_is_one_call_per_evaluation_with_the_two_calls_result():
    model = GaussianWorldModel(std=0.05, action_gain=0.5)
    cond = random_condition(batch=3)
    noise = torch.randn(model.target_shape(cond), generator=torch.Generator().manual_seed(0))
    config = SamplerConfig(num_steps=3, cfg_scale=2.0, cfg_scale_first=1.0)
    calls = []
    denoise = model.denoise
    model.denoise = lambda x, sigma, c: calls.append(c.action_mask.tolist()) or denoise(x, sigma, c)
    batched = sample(model, cond, config, noise=noise).x0
    assert calls == [[1.0] * 3 + [0.0] * 3] * 3  # conditional rows, then unconditional rows, in one call
    calls.clear()
    separate = sample(model, cond, replace(config, batch_guidance=False), noise=noise).x0
    assert calls == [[1.0] * 3, [0.0] * 3] * 3
    torch.testing.assert_close(batched, separate)
