"""DreamBooth-style LoRA training (models/train/lora.py) on a tiny random pipeline built by
diffusers here: the LoRA learns the pictures, loads in diffusers and in the studio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.registry import Registry
from models.tasks import generate as gen
from tests.models import sd_tiny

PROMPT = "a photo of sks cat"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return sd_tiny.build(tmp_path_factory.mktemp("sd") / "t2i")


@pytest.fixture
def pictures(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path / "cat"
    folder.mkdir()
    for i in range(5):
        im = np.full((80, 80, 3), (200, 60, 40), np.uint8)
        y, x = rng.integers(10, 50, 2)
        im[y:y + 20, x:x + 20] = (20, 20, 220)
        Image.fromarray(im).save(folder / f"cat{i}.png")
    return folder


def test_a_lora_learns_the_pictures_and_loads_like_any_other(tiny, pictures, tmp_path):
    from models.train.lora import LoraConfig, train_lora

    reg = Registry(None)
    name = reg.add_checkpoint(tiny).name
    pipe = reg.get(name).pipe
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    out = tmp_path / "sks.safetensors"
    events = []
    card = train_lora(pipe, {"name": name}, sorted(map(str, pictures.iterdir())),
                      LoraConfig(prompt=PROMPT, steps=40, lr=3e-3, rank=4, seed=1),
                      out, log=lambda s: events.append(json.loads(s)))
    m = card["metrics"]
    assert m["steps"] == 40
    assert m["instance_denoise_mse_after"] < m["instance_denoise_mse_before"]
    assert json.loads(out.with_suffix(".json").read_text())["metrics"] == m
    # The pipeline is as it was: no adapter left behind.
    after = pipe.unet.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert events[0]["pictures"] == 5 and any("loss" in e for e in events)
    # diffusers' own loader takes it; it changes the picture, weight 0 does not.
    plain = gen.run(reg, name, gen.GenerateOptions(prompt=PROMPT, steps=3, seed=2))[0]
    tuned = gen.run(reg, name, gen.GenerateOptions(prompt=PROMPT, steps=3, seed=2,
                                                   loras=((str(out), 1.0),)))[0]
    off = gen.run(reg, name, gen.GenerateOptions(prompt=PROMPT, steps=3, seed=2,
                                                 loras=((str(out), 0.0),)))[0]
    assert np.abs(tuned - plain).mean() > 1e-3
    assert np.abs(off - plain).max() <= 1e-5
    from safetensors import safe_open

    with safe_open(str(out), "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("unet.") and ".lora_" in k for k in keys)
    from models.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="a LoRA, not a model"):
        Registry(None).add_checkpoint(out)


def test_prior_preservation_generates_and_learns_the_class(tiny, pictures, tmp_path):
    from models.train.lora import LoraConfig, train_lora

    reg = Registry(None)
    pipe = reg.get(reg.add_checkpoint(tiny).name).pipe
    card = train_lora(pipe, {"name": "tiny"}, sorted(map(str, pictures.iterdir())),
                      LoraConfig(prompt=PROMPT, class_prompt="a photo of cat", class_images=2,
                                 class_steps=2, steps=6, lr=1e-3),
                      tmp_path / "p.safetensors", log=lambda s: None)
    assert "class_denoise_mse_after" in card["metrics"]
    with pytest.raises(ValueError, match="needs a class prompt"):
        train_lora(pipe, {}, [str(next(pictures.iterdir()))],
                   LoraConfig(prompt=PROMPT, class_images=2), tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="needs a GPU"):
        train_lora(pipe, {}, [str(next(pictures.iterdir()))],
                   LoraConfig(prompt=PROMPT, mixed_precision="fp16"), tmp_path / "x.safetensors")


def test_the_command_trains_a_lora_and_refuses_a_model_that_is_not_sd(tiny, pictures,
                                                                      tmp_path, tiny_weights):
    out = tmp_path / "cli.safetensors"
    run = subprocess.run([sys.executable, "-m", "studio", "train", "lora", "--model", str(tiny),
                          "--images", str(pictures), "--prompt", PROMPT, "--steps", "5",
                          "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout.strip().splitlines()[-1])
    assert said["lora"] == str(out) and said["metrics"]["steps"] == 5
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["base_model"]["fingerprint"].startswith("sha256:")
    assert card["data"]["pictures"] and "train lora" in card["training"]["command"]
    bad = subprocess.run([sys.executable, "-m", "studio", "train", "lora", "--model",
                          str(tiny_weights / "tiny-vae.safetensors"), "--images", str(pictures),
                          "--prompt", PROMPT, "--out", str(tmp_path / "y.safetensors")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "a LoRA needs a Stable Diffusion model" in bad.stderr
