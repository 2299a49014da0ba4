"""Stable Diffusion's VAE as a latent model: photos at their own size (tiny random VAEs built
by diffusers here; our encode/decode checked against diffusers' own pipeline code)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoints import CheckpointError
from models.image import sd_vae
from models.protocol import Cancelled, Capability, JobContext
from models.registry import Registry
from models.tasks.pictures import picture_for_model
from tests.models import sd_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("sdvae")
    t2i = sd_tiny.build(root / "t2i")
    single = sd_tiny.single_file(t2i, root / "tiny.safetensors")
    state = sd_tiny.original_state(t2i)
    vae_only = {k[len("first_stage_model."):]: v for k, v in state.items()
                if k.startswith("first_stage_model.")}
    save_file(vae_only, str(root / "vae-original.safetensors"))
    # The shipped SD 1.5 configs describe the real VAE; a tiny standalone file takes the
    # tiny pipeline's folder as its config.
    return {"t2i": t2i, "single": single, "vae_file": root / "vae-original.safetensors",
            "ckpt": sd_tiny.ckpt_file(t2i, root / "tiny.ckpt"), "root": root}


@pytest.fixture(scope="module")
def reg(tiny) -> Registry:
    return Registry(None)


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour picture (gradients and a disc), uint8 RGB."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    rng = np.random.default_rng(seed)
    a, b, c = rng.random(3)
    img = np.stack([xx * a + 0.2, yy * b + 0.1, (xx + yy) * c * 0.5 + 0.2], -1)
    img[(xx - 0.4) ** 2 + (yy - 0.3) ** 2 < 0.04] = (0.9, 0.2, 0.1)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def test_a_vae_is_found_in_pipelines_folders_and_files(tiny):
    assert sd_vae.vae_kind(tiny["t2i"]) == "pipeline"
    assert sd_vae.vae_kind(tiny["single"]) == "pipeline"
    assert sd_vae.vae_kind(tiny["ckpt"]) == "pipeline"
    assert sd_vae.vae_kind(tiny["t2i"] / "vae") == "folder"
    assert sd_vae.vae_kind(tiny["vae_file"]) == "single"
    assert sd_vae.vae_kind(tiny["root"]) == ""
    (tiny["root"] / "x.safetensors").write_bytes(b"\x10\x00\x00")
    assert sd_vae.vae_kind(tiny["root"] / "x.safetensors") == ""


def test_an_sd_checkpoint_opened_for_a_latent_space_is_its_vae(tiny):
    reg = Registry(None)
    whole = reg.add_checkpoint(tiny["t2i"])
    assert whole.family == "stable-diffusion"
    vae = reg.add_checkpoint(tiny["t2i"], capability=Capability.LATENT)
    assert vae.family == "sd-vae" and vae.name != whole.name
    assert Capability.ANY_SIZE in vae.capabilities
    assert {i.name for i in reg.infos(Capability.LATENT)} == {vae.name}
    assert reg.info(whole.name).family == "stable-diffusion"        # both stay registered
    assert reg.add_checkpoint(tiny["t2i"], capability=Capability.LATENT) == vae   # once
    # Without the wish, the first family that reads a file has it.
    assert Registry(None).add_checkpoint(tiny["single"], config=str(tiny["t2i"])
                                         ).family == "stable-diffusion"


def test_sized_views_take_the_pictures_own_size(tiny):
    reg = Registry(None)
    name = reg.add_checkpoint(tiny["t2i"] / "vae").name
    view = reg.sized(name, 75, 100)                   # cut to multiples of 8
    assert view == f"{name} @ 96x72" and reg.sized(view, 1, 1) == view
    info = reg.info(view)
    assert info.image_shape == (72, 96, 3) and info.latent_size == 4 * 9 * 12
    assert view not in [i.name for i in reg.infos()]
    assert reg.view_of(view) == name and reg.view_of(name) == name
    big = reg.sized(name, 3000, 4000)                 # scaled to MAX_SIDE on the long side
    assert reg.info(big).image_shape[:2] == (768, 1024)
    assert reg.sized(name, 10, 30).endswith("@ 24x8")


def test_encode_and_decode_equal_diffusers_at_the_pictures_size(tiny):
    from diffusers import AutoencoderKL
    from diffusers.image_processor import VaeImageProcessor

    reg = Registry(None)
    name = reg.add_checkpoint(tiny["t2i"] / "vae").name
    img = photo(72, 96)
    view = reg.sized(name, *img.shape[:2])
    arr, note = picture_for_model(reg, view, img)
    assert arr.shape == (72, 96, 3) and note == ""
    backend = reg.get(view)
    z = backend.encode(arr[None])
    rec = backend.decode(z)
    assert z.shape == (1, 4 * 9 * 12) and rec.shape == (1, 72, 96, 3)

    vae = AutoencoderKL.from_pretrained(str(tiny["t2i"] / "vae"), local_files_only=True)
    proc = VaeImageProcessor(vae_scale_factor=8)
    with torch.no_grad():
        x = proc.preprocess(Image.fromarray(img))
        ref_z = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
        ref = proc.postprocess(vae.decode(ref_z / vae.config.scaling_factor).sample,
                               output_type="np")
    if reg.get(view).owner.device == "cpu":           # laid out as diffusers lays it out
        assert np.array_equal(z.reshape(ref_z.shape), ref_z.numpy())
    assert np.abs(z.reshape(ref_z.shape) - ref_z.numpy()).max() < 1e-3
    assert np.abs(rec - ref).mean() <= 1 / 255


def test_single_files_and_ckpt_hold_the_same_vae_as_the_folder(tiny):
    reg = Registry(None)
    img = photo(64, 80, seed=3).astype(np.float32)[None] / 255
    outs = []
    for path, config in ((tiny["t2i"] / "vae", None), (tiny["single"], str(tiny["t2i"])),
                         (tiny["ckpt"], str(tiny["t2i"])),
                         (tiny["vae_file"], str(tiny["t2i"]))):
        info = reg.add_checkpoint(path, config=config, capability=Capability.LATENT)
        assert info.family == "sd-vae", path
        outs.append(reg.get(reg.sized(info.name, 64, 80)).encode(img))
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


def test_interpolation_and_samples_decode_at_the_working_size(tiny):
    reg = Registry(None)
    name = reg.add_checkpoint(tiny["t2i"] / "vae").name
    view = reg.get(reg.sized(name, 64, 128))
    z = view.sample_latents(3, seed=7)
    assert np.array_equal(z, view.sample_latents(3, seed=7)) and z.shape == (3, 4 * 8 * 16)
    assert view.decode(z).shape == (3, 64, 128, 3)
    with pytest.raises(ValueError, match="takes"):
        view.decode(np.zeros((1, 12), np.float32))


def test_decoding_cancels_between_pictures(tiny):
    reg = Registry(None)
    name = reg.add_checkpoint(tiny["t2i"] / "vae").name
    view = reg.get(reg.sized(name, 64, 64))
    seen = []
    ctx = JobContext(lambda f, p: (seen.append(f), ctx.cancel() if len(seen) == 2 else None))
    with pytest.raises(Cancelled):
        view.decode(view.sample_latents(6, 0), ctx=ctx)
    assert len(seen) == 2


def test_a_vae_ckpt_that_would_run_code_is_refused(tiny, tmp_path):
    target = tmp_path / "pwned.txt"

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (target, "pwned"))

    from safetensors.torch import load_file

    state = load_file(str(tiny["vae_file"]))
    torch.save({"state_dict": state, "x": Evil()}, str(tmp_path / "vae.ckpt"))
    assert sd_vae.vae_kind(tmp_path / "vae.ckpt") == "ckpt"
    with pytest.raises(CheckpointError, match="refused"):
        Registry(None).add_checkpoint(tmp_path / "vae.ckpt")
    assert not target.exists()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_reconstructs_and_interpolates_photos_at_their_own_size(tiny, tmp_path):
    Image.fromarray(photo(72, 100)).save(tmp_path / "a.png")
    Image.fromarray(photo(50, 60, seed=2)).save(tmp_path / "b.png")
    r = cli("reconstruct", "--model", str(tiny["t2i"]), str(tmp_path / "a.png"),
            str(tmp_path / "b.png"), "--out-dir", str(tmp_path / "rec"))
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "rec" / "a.png").size == (96, 72)
    assert Image.open(tmp_path / "rec" / "b.png").size == (56, 48)
    r = cli("interpolate", "--model", str(tiny["t2i"]), str(tmp_path / "a.png"),
            str(tmp_path / "b.png"), "--steps", "3", "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0, r.stderr
    strip = Image.open(tmp_path / "s.png")
    assert strip.size[1] == 72 and "b.png: cropped" in r.stderr


def test_cli_takes_a_standalone_vae_file_with_its_config_and_refuses_a_stranger(tiny,
                                                                                 tmp_path):
    Image.fromarray(photo(40, 56)).save(tmp_path / "a.png")
    r = cli("reconstruct", "--model", str(tiny["vae_file"]), "--config", str(tiny["t2i"]),
            str(tmp_path / "a.png"), "--out", str(tmp_path / "r.png"))
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "r.png").size == (56, 40)
    r = cli("reconstruct", "--model", str(tiny["vae_file"]), str(tmp_path / "a.png"),
            "--out", str(tmp_path / "r.png"))           # the shipped SD 1.5 config: no fit
    assert r.returncode == 2 and "VAE could not be opened" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_one_frame_previews_at_once_and_a_cancel_stops_inside_the_decode(tiny):
    reg = Registry(None)
    name = reg.add_checkpoint(tiny["t2i"] / "vae").name
    view = reg.get(reg.sized(name, 64, 96))
    z = view.sample_latents(1, 3)
    previews = []
    view.decode(z, ctx=JobContext(lambda f, p: previews.append(p)))
    assert previews[0].shape == (64, 96, 3) and 0 <= previews[0].min() <= previews[0].max() <= 1
    assert np.array_equal(previews[0][:8, :8], np.broadcast_to(previews[0][0, 0], (8, 8, 3)))
    ran = []
    hook = view.owner.vae.decoder.conv_out.register_forward_hook(lambda *a: ran.append(1))
    try:
        ctx = JobContext(lambda f, p: ctx.cancel())       # cancelled at the preview
        with pytest.raises(Cancelled):
            view.decode(z, ctx=ctx)
        assert ran == []                                  # stopped before the last layer
        view.decode(z)                                    # the cancel hooks are gone
        assert ran == [1]
    finally:
        hook.remove()


def test_a_view_is_named_without_reading_the_files_again(tiny, monkeypatch):
    reg = Registry(None)
    name = reg.add_checkpoint(tiny["ckpt"], config=str(tiny["t2i"]),
                              capability=Capability.LATENT).name
    first = reg.sized(name, 64, 64)
    reads = []
    real = sd_vae.read_card
    monkeypatch.setattr(sd_vae, "read_card", lambda *a, **k: reads.append(1) or real(*a, **k))
    for _ in range(50):                                # a scrub asks at every frame
        assert reg.sized(name, 64, 64) == first
    reg.sized(name, 80, 96)
    assert reads == []
