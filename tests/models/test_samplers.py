"""Noise schedule, DDPM and DDIM samplers and RePaint's resampling, against an oracle model
that knows the clean image (so every step has an exact answer)."""

import pytest
import torch

from models.protocol import Cancelled, JobContext, NoiseScheduler
from models.samplers.ddim import DDIMSampler
from models.samplers.ddpm import DDPMSampler
from models.samplers.repaint import PRESETS, RepaintPreset, feather_mask, inpaint, jump_schedule
from models.samplers.schedule import NoiseSchedule, ScheduleConfig


def oracle(schedule, x0):
    """The perfect epsilon model for clean image ``x0``."""
    def denoise(x, t):
        a = schedule.abar(t)
        return (x - a ** 0.5 * x0) / (1 - a) ** 0.5
    return denoise


@pytest.fixture
def x0():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 1, 8, 8, generator=g) * 2 - 1


def test_schedules():
    lin = NoiseSchedule(ScheduleConfig())
    assert float(lin.betas[0]) == pytest.approx(1e-4)
    assert float(lin.betas[-1]) == pytest.approx(0.02)
    for name in ("linear", "scaled_linear", "squaredcos_cap_v2"):
        s = NoiseSchedule(ScheduleConfig(beta_schedule=name))
        a = s.alphas_cumprod
        assert torch.all(a[1:] < a[:-1]) and 0 < float(a[-1]) < float(a[0]) < 1
    cfg = ScheduleConfig.from_dict({"_class_name": "DDPMScheduler", "beta_schedule": "linear",
                                    "num_train_timesteps": 500, "variance_type": "fixed_small"})
    assert cfg.num_train_timesteps == 500
    with pytest.raises(ValueError, match="beta_schedule"):
        ScheduleConfig(beta_schedule="sigmoid")
    assert lin.timesteps(4) == [750, 500, 250, 0]


def test_v_prediction_gives_back_x0_and_eps(x0):
    s = NoiseSchedule(ScheduleConfig(prediction_type="v_prediction", clip_sample=False))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1))
    a = s.abar(300)
    xt = s.add_noise(x0, eps, 300)
    got_x0, got_eps = s.split_output(a ** 0.5 * eps - (1 - a) ** 0.5 * x0, xt, 300)
    assert torch.allclose(got_x0, x0, atol=1e-5) and torch.allclose(got_eps, eps, atol=1e-4)


@pytest.mark.parametrize("cls", [DDPMSampler, DDIMSampler])
def test_sampling_with_the_oracle_ends_on_the_clean_image(cls, x0):
    s = NoiseSchedule(ScheduleConfig(clip_sample=False))
    sampler = cls(s)
    assert isinstance(sampler, NoiseScheduler)
    sampler.set_timesteps(10)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(x0.shape, generator=g)
    model = oracle(s, x0)
    for t in sampler.timesteps:
        x, pred = sampler.step(model(x, int(t)), int(t), x, generator=g)
        assert torch.allclose(pred, x0, atol=1e-4)
    assert torch.allclose(x, x0, atol=1e-4)


def test_a_ddim_step_lands_on_the_same_noise_one_level_down(x0):
    s = NoiseSchedule(ScheduleConfig(clip_sample=False))
    sampler = DDIMSampler(s)
    sampler.set_timesteps(20)
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    t = int(sampler.timesteps[5])
    prev = sampler.previous(t)
    out, _ = sampler.step(eps, t, s.add_noise(x0, eps, t))
    assert torch.allclose(out, s.add_noise(x0, eps, prev), atol=1e-5)


def test_ddpm_draws_from_the_posterior():
    s = NoiseSchedule(ScheduleConfig(clip_sample=False))
    sampler = DDPMSampler(s)
    sampler.set_timesteps(50)
    x0 = torch.full((1, 1, 200, 200), 0.3)
    t = int(sampler.timesteps[10])
    prev = sampler.previous(t)
    xt = s.add_noise(x0, torch.zeros_like(x0), t)            # x_t = sqrt(abar) x0
    out, _ = sampler.step(oracle(s, x0)(xt, t), t, xt, generator=torch.Generator().manual_seed(0))
    a_t, a_s = s.abar(t), s.abar(prev)
    beta = 1 - a_t / a_s
    mean = (a_s ** 0.5 * beta / (1 - a_t)) * 0.3 + ((a_t / a_s) ** 0.5 * (1 - a_s) / (1 - a_t)) \
        * float(xt[0, 0, 0, 0])
    var = (1 - a_s) / (1 - a_t) * beta
    assert float(out.mean()) == pytest.approx(mean, abs=4 * (var / 40000) ** 0.5)
    assert float(out.var()) == pytest.approx(var, rel=0.05)
    again, _ = sampler.step(oracle(s, x0)(xt, t), t, xt, generator=torch.Generator().manual_seed(0))
    other, _ = sampler.step(oracle(s, x0)(xt, t), t, xt, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again) and not torch.equal(out, other)


def test_repaint_schedules_and_their_cost():
    assert PRESETS["fast"].network_calls == 230
    assert PRESETS["quality"].network_calls == 2410
    assert PRESETS["none"].network_calls == 50
    path = jump_schedule(20, 5, 3)
    assert path[0] == 20 and path[-1] == 0 and max(path) == 20
    assert all(abs(a - b) == 1 for a, b in zip(path, path[1:]))
    with pytest.raises(ValueError):
        jump_schedule(0, 5, 3)


def test_feather_fades_only_outward():
    m = torch.zeros(1, 1, 16, 16)
    m[..., 4:12, 4:12] = 1
    f = feather_mask(m, 1.5)
    assert torch.all(f[m == 1] == 1) and 0 < float(f[0, 0, 8, 3]) < 1
    assert float(f[0, 0, 8, 0]) < 0.01 and float(f.max()) <= 1


@pytest.mark.parametrize("sampler_cls,preset", [(DDIMSampler, RepaintPreset(10, 0, 1)),
                                                (DDPMSampler, RepaintPreset(12, 3, 3))])
def test_inpainting_with_the_oracle_fills_the_mask_and_keeps_the_rest(sampler_cls, preset, x0):
    s = NoiseSchedule(ScheduleConfig(clip_sample=False))
    mask = torch.zeros(2, 1, 8, 8)
    mask[..., 2:6, 1:5] = 1
    damaged = x0 * (1 - mask)                       # the hole holds zeros
    seen = []
    ctx = JobContext(lambda f, p: seen.append((f, p)))
    out = inpaint(oracle(s, x0), sampler_cls(s), s, damaged, mask, preset,
                  generator=torch.Generator().manual_seed(0), ctx=ctx)
    assert torch.allclose(out[mask.bool().expand_as(out)], x0[mask.bool().expand_as(x0)],
                          atol=1e-4)
    keep = 1 - feather_mask(mask, 1.5)
    assert torch.allclose(out * keep, damaged * keep,
                          atol=1e-6)
    assert len(seen) == preset.network_calls and seen[-1][0] == 1.0
    assert seen[-1][1].shape == x0.shape


def test_inpainting_stops_when_cancelled(x0):
    s = NoiseSchedule()
    ctx = JobContext()
    calls = []

    def model(x, t):
        calls.append(t)
        if len(calls) == 3:
            ctx.cancel()
        return torch.zeros_like(x)

    with pytest.raises(Cancelled):
        inpaint(model, DDIMSampler(s), s, x0, torch.ones(2, 1, 8, 8), PRESETS["fast"],
                generator=torch.Generator().manual_seed(0), ctx=ctx)
    assert len(calls) == 3
