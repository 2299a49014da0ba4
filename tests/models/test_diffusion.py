"""The latent diffusion family: networks, classifier-free guidance, inpainting contract
(a tiny seeded, untrained model; the shipped one comes with #12)."""

import numpy as np
import pytest
import torch

from models.checkpoints import save_checkpoint
from models.image.diffusion import DiffusionConfig, LatentDiffusion, config_to_card
from models.protocol import Cancelled, Capability, InpaintRequest, JobContext
from models.registry import Registry

CFG = DiffusionConfig(image_size=16, channels=1, latent_channels=4, ae_width=8, unet_width=8,
                      classes="abc", num_train_timesteps=100)


@pytest.fixture
def backend(tmp_path):
    torch.manual_seed(0)
    net = LatentDiffusion(CFG)
    with torch.no_grad():                      # a non-zero output layer, so outputs vary
        for p in net.unet.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_checkpoint(tmp_path / "tiny-diffusion.safetensors", net.state_dict(),
                    {"family": "diffusion", "config": config_to_card(CFG)})
    reg = Registry(tmp_path)
    info = reg.info("tiny-diffusion")
    assert Capability.INPAINT in info.capabilities and info.classes == ("a", "b", "c")
    return reg.get("tiny-diffusion")


def test_shapes(backend):
    net = backend.net
    x = torch.rand(2, 1, 16, 16)
    z = net.ae.encode(x)
    assert z.shape == (2, 4, 4, 4) and net.ae.decode_logits(z).shape == (2, 1, 16, 16)
    out = net.unet(z, torch.tensor([3, 50]), torch.tensor([0, 3]))
    assert out.shape == z.shape


def test_classifier_free_guidance(backend):
    z = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(1))
    tt = torch.tensor([40])
    null = backend.net.unet(z, tt, torch.tensor([3]))
    cls = backend.net.unet(z, tt, torch.tensor([1]))
    assert not torch.allclose(null, cls)
    assert torch.allclose(backend.denoiser(None, 3.0)(z, 40), null, atol=1e-6)
    assert torch.allclose(backend.denoiser(1, 1.0)(z, 40), cls, atol=1e-6)
    assert torch.allclose(backend.denoiser(1, 2.5)(z, 40), null + 2.5 * (cls - null),
                          atol=1e-5)


def test_inpainting_keeps_the_outside_and_reports_each_step(backend):
    rng = np.random.default_rng(0)
    image = rng.random((16, 16, 1), dtype=np.float32)
    mask = np.zeros((16, 16), np.float32)
    mask[4:8, 4:8] = 1
    seen = []
    req = InpaintRequest(image, mask, steps=6, label=2, guidance=2.0, seed=1)
    out = backend.inpaint(req, ctx=JobContext(lambda f, p: seen.append((f, p))))
    assert out.shape == (16, 16, 1) and 0 <= out.min() and out.max() <= 1
    far = np.ones((16, 16), bool)
    far[1:11, 1:11] = False                        # beyond the feathered edge
    assert np.array_equal(out[far], image[far])
    assert not np.allclose(out[5:7, 5:7], image[5:7, 5:7], atol=1e-3)
    assert len(seen) == 6 and seen[-1][0] == 1.0 and seen[-1][1].shape == (16, 16, 1)
    assert np.array_equal(out, backend.inpaint(req))
    ddpm = backend.inpaint(InpaintRequest(image, mask, steps=6, sampler="ddpm",
                                          repaint_jumps=2, repaint_resamples=2))
    assert ddpm.shape == out.shape


def test_bad_requests(backend):
    ok = np.zeros((16, 16, 1), np.float32), np.ones((16, 16), np.float32)
    with pytest.raises(ValueError, match="paints 16x16"):
        backend.inpaint(InpaintRequest(np.zeros((8, 8, 1)), np.zeros((8, 8))))
    with pytest.raises(ValueError, match="not one of this model's 3 classes"):
        backend.inpaint(InpaintRequest(*ok, label=7))
    with pytest.raises(ValueError, match="sampler"):
        backend.inpaint(InpaintRequest(*ok, sampler="euler"))
    ctx = JobContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        backend.inpaint(InpaintRequest(*ok, steps=3), ctx=ctx)


def test_a_few_training_steps_make_a_model_that_inpaints(tmp_path):
    from models.train import diffusion as trainer
    from tests.models.test_stylegen import _tiny_glyph_set

    data = _tiny_glyph_set(tmp_path / "glyphs.npz")
    cfg = trainer.TrainConfig(ae_minutes=5, minutes=5, max_steps=2, batch=4, ae_width=8,
                              unet_width=8)
    card = trainer.train(cfg, tmp_path / "d.safetensors", data_path=data, log=lambda _: None)
    assert card["config"]["classes"] == "abcd" and card["training"]["unet_steps"] == 2
    assert card["training"]["latent_scale"] > 0
    reg = Registry(None)
    backend = reg.get(reg.add_checkpoint(tmp_path / "d.safetensors").name)
    assert float(backend.net.latent_scale) == pytest.approx(card["training"]["latent_scale"],
                                                            rel=1e-3)
    out = backend.inpaint(InpaintRequest(np.zeros((16, 16, 1)), np.ones((16, 16)), steps=3,
                                         label=1, guidance=2.0))
    assert out.shape == (16, 16, 1)


def test_what_is_under_the_mask_never_reaches_the_result(backend):
    """The content to be replaced must not leak back through the encoder."""
    rng = np.random.default_rng(3)
    image = rng.random((16, 16, 1), dtype=np.float32)
    mask = np.zeros((16, 16), np.float32)
    mask[4:12, 4:12] = 1
    other = image.copy()
    other[mask > 0] = rng.random((int(mask.sum()), 1), dtype=np.float32)
    req = dict(steps=4, seed=2)
    a = backend.inpaint(InpaintRequest(image, mask, **req))
    b = backend.inpaint(InpaintRequest(other, mask, **req))
    assert np.array_equal(a, b)
