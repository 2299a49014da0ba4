"""A user's diffusers UNet2DModel (folder or pipeline) opens and inpaints with our samplers;
the tiny model is made and saved by diffusers itself."""

import json

import numpy as np
import pytest
import torch

from models.checkpoints import CheckpointError
from models.protocol import Cancelled, Capability, InpaintRequest, JobContext
from models.registry import Registry


def tiny_unet(folder, channels=1):
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    net = UNet2DModel(sample_size=8, in_channels=channels, out_channels=channels,
                      layers_per_block=1, block_out_channels=(8, 8), norm_num_groups=4,
                      down_block_types=("DownBlock2D", "DownBlock2D"),
                      up_block_types=("UpBlock2D", "UpBlock2D"))
    net.save_pretrained(folder)
    return net


def request(mask_rows=slice(2, 6), **kw):
    rng = np.random.default_rng(0)
    image = rng.random((8, 8, 1), dtype=np.float32)
    mask = np.zeros((8, 8), np.float32)
    mask[mask_rows] = 1
    return InpaintRequest(image, mask, **{"steps": 5, **kw})


def test_a_unet_folder_opens_and_inpaints(tmp_path):
    tiny_unet(tmp_path / "unet-folder")
    reg = Registry(None)
    for path in (tmp_path / "unet-folder",
                 tmp_path / "unet-folder" / "diffusion_pytorch_model.safetensors"):
        info = reg.add_checkpoint(path)
        assert info.family == "diffusers-unet" and Capability.INPAINT in info.capabilities
        assert info.image_shape == (8, 8, 1)
    backend = reg.get(info.name)
    req = request(sampler="ddim", seed=3)
    seen = []
    out = backend.inpaint(req, ctx=JobContext(lambda f, p: seen.append((f, p))))
    assert out.shape == (8, 8, 1) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    far = np.zeros((8, 8), bool)
    far[:1] = far[7:] = True                       # rows the feathered edge does not reach
    assert np.allclose(out[far], req.image[far], atol=1e-6)
    assert not np.allclose(out[3:5], req.image[3:5], atol=1e-3)
    assert len(seen) == 5 and seen[-1][0] == 1.0
    assert seen[-1][1].shape == out.shape and seen[-1][1].dtype == np.float32
    assert 0 <= seen[-1][1].min() and seen[-1][1].max() <= 1
    assert np.array_equal(out, backend.inpaint(req))                  # seeded
    assert not np.array_equal(out, backend.inpaint(request(sampler="ddim", seed=4)))
    ddpm = backend.inpaint(request(sampler="ddpm", repaint_jumps=2, repaint_resamples=2))
    assert ddpm.shape == (8, 8, 1)


def test_a_pipeline_folder_uses_its_scheduler(tmp_path):
    from diffusers import DDPMScheduler

    tiny_unet(tmp_path / "pipe" / "unet")
    DDPMScheduler(num_train_timesteps=100, beta_schedule="squaredcos_cap_v2",
                  prediction_type="v_prediction").save_pretrained(tmp_path / "pipe" / "scheduler")
    (tmp_path / "pipe" / "model_index.json").write_text(json.dumps(
        {"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
         "scheduler": ["diffusers", "DDPMScheduler"]}))
    reg = Registry(None)
    info = reg.add_checkpoint(tmp_path / "pipe" / "model_index.json")
    card = reg.card(info.name)
    assert card["config"]["schedule"]["num_train_timesteps"] == 100
    assert card["config"]["schedule"]["prediction_type"] == "v_prediction"
    backend = reg.get(info.name)
    assert backend.schedule.num_train_timesteps == 100
    assert backend.inpaint(request(steps=10)).shape == (8, 8, 1)


def test_bad_requests_and_folders_are_clear(tmp_path):
    tiny_unet(tmp_path / "u")
    reg = Registry(None)
    backend = reg.get(reg.add_checkpoint(tmp_path / "u").name)
    with pytest.raises(ValueError, match="paints 8x8"):
        backend.inpaint(InpaintRequest(np.zeros((16, 16, 1)), np.zeros((16, 16))))
    with pytest.raises(ValueError, match="takes no class"):
        backend.inpaint(request(label=3))
    ctx = JobContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        backend.inpaint(request(), ctx=ctx)
    (tmp_path / "u" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        Registry(None).add_checkpoint(tmp_path / "u")
