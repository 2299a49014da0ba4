"""Stable Diffusion checkpoints: tiny random pipelines built by diffusers and transformers
here, opened as folders, single files and .ckpt, compared with diffusers' own pipelines."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.checkpoints import CheckpointError
from models.image import sd
from models.protocol import Cancelled, JobContext
from models.registry import Registry
from models.tasks import generate as gen
from tests.models import sd_tiny

PROMPT = "a photo of a red house"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sd")
    t2i = sd_tiny.build(root / "t2i")
    inp = sd_tiny.build(root / "inp", in_channels=9, seed=5)
    return {"t2i": t2i, "inp": inp,
            "single": sd_tiny.single_file(t2i, root / "tiny.safetensors"),
            "ckpt": sd_tiny.ckpt_file(t2i, root / "tiny.ckpt"), "root": root}


@pytest.fixture(scope="module")
def reg(tiny) -> Registry:
    r = Registry(None)
    r.names = {key: r.add_checkpoint(tiny[key]).name for key in ("t2i", "inp")}
    r.names["single"] = r.add_checkpoint(tiny["single"], config=str(tiny["t2i"])).name
    return r


def names(reg: Registry) -> dict[str, str]:
    return reg.names


def picture(w: int = 96, h: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.random((h, w, 3)) * 255).astype(np.float32) / 255


def box_mask(w: int = 96, h: int = 64) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    m[16:40, 30:70] = 1
    return m


def pil(a: np.ndarray) -> Image.Image:
    if a.ndim == 2:
        return Image.fromarray(np.round(a * 255).astype(np.uint8), "L")
    return Image.fromarray(np.round(a * 255).astype(np.uint8), "RGB")


def diffusers_pipe(cls_name: str, folder: Path):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(
        str(folder), local_files_only=True, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# -- opening ---------------------------------------------------------------------------------

def test_clip_tokenizer_from_open_clip_vocabulary_matches_clip_ids():
    tok = sd.clip_tokenizer()
    assert len(tok) == 49408
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    padded = sd.clip_tokenizer("!")("a cat", padding="max_length", max_length=8).input_ids
    assert padded == [49406, 320, 2368, 49407, 0, 0, 0, 0]


@pytest.mark.parametrize("shapes, base", [
    ({"input_blocks.0.0.weight": (320, 4, 3, 3),
      "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768)}, "sd15"),
    ({"input_blocks.0.0.weight": (320, 9, 3, 3),
      "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 768)}, "sd15-inpaint"),
    ({"input_blocks.0.0.weight": (320, 4, 3, 3),
      "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024)}, "sd2-v"),
    ({"input_blocks.0.0.weight": (320, 9, 3, 3),
      "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024)}, "sd2-inpaint"),
    ({"input_blocks.0.0.weight": (320, 4, 3, 3),
      "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (640, 2048),
      "conditioner.embedders.1.model.ln_final.weight": (1280,)}, "sdxl"),
])
def test_the_base_of_a_single_file_is_read_from_its_keys_and_shapes(shapes, base):
    full = {(k if k.startswith("conditioner") else sd.UNET_PREFIX + k): v
            for k, v in shapes.items()}
    assert sd.detect_base(full) == base
    assert (sd.CONFIGS_DIR / base / "model_index.json").is_file()


def test_an_unknown_architecture_asks_for_its_config():
    shapes = {sd.UNET_PREFIX + "input_blocks.0.0.weight": (32, 4, 3, 3),
              sd.UNET_PREFIX + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (32, 77)}
    with pytest.raises(CheckpointError, match="--config"):
        sd.detect_base(shapes)


def test_shipped_sd15_configs_build_the_published_architecture():
    import diffusers
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = sd.CONFIGS_DIR / "sd15"
    with init_empty_weights():
        unet = diffusers.UNet2DConditionModel.from_config(
            json.loads((folder / "unet" / "config.json").read_text()))
        vae = diffusers.AutoencoderKL.from_config(
            json.loads((folder / "vae" / "config.json").read_text()))
        text = CLIPTextModel(CLIPTextConfig.from_pretrained(str(folder / "text_encoder")))
    count = [sum(p.numel() for p in m.parameters()) for m in (unet, vae, text)]
    assert count == [859_520_964, 83_653_863, 123_060_480]


def test_folder_single_file_and_ckpt_are_recognised(tiny):
    assert sd.file_kind(tiny["t2i"]) == "folder"
    assert sd.file_kind(tiny["t2i"] / "unet" / "config.json") == "folder"
    assert sd.file_kind(tiny["single"]) == "single"
    assert sd.file_kind(tiny["ckpt"]) == "ckpt"
    card = sd.read_card(tiny["inp"])
    assert card["config"]["inpainting"] and card["config"]["native"] == 64


def test_a_stranger_file_is_not_taken_for_a_checkpoint(tmp_path):
    (tmp_path / "text.ckpt").write_text("hello, not a checkpoint")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00")
    for f in ("text.ckpt", "cut.safetensors"):
        assert sd.file_kind(tmp_path / f) == ""
    with pytest.raises(CheckpointError):
        Registry(None).add_checkpoint(tmp_path / "text.ckpt")


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_a_ckpt_that_would_run_code_is_refused_and_runs_nothing(tiny, tmp_path):
    target = tmp_path / "written-by-the-pickle.txt"
    state = sd_tiny.original_state(tiny["t2i"])
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": state, "payload": _Evil(str(target))}, str(evil))
    assert sd.file_kind(evil) == "ckpt"
    with pytest.raises(CheckpointError, match="refused.*pathlib"):
        Registry(None).add_checkpoint(evil, config=str(tiny["t2i"]))
    with pytest.raises(CheckpointError, match="refused"):
        sd.read_ckpt_state(evil)
    assert not target.exists()


def test_a_lightning_ckpt_is_read_with_its_objects_inert(tiny):
    state = sd.read_ckpt_state(tiny["ckpt"])
    assert sd.UNET_PREFIX + "input_blocks.0.0.weight" in state
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_the_memory_estimate_refuses_what_will_not_fit(tiny):
    card = sd.read_card(tiny["t2i"])
    card["config"]["parameters"] = 10**13
    with pytest.raises(MemoryError, match="will not fit"):
        sd.check_fits(card, "cpu")
    real = sd.read_card(tiny["t2i"])
    sd.check_fits(real, "cpu")
    assert sd.needed_bytes(real, "cpu") > real["config"]["parameters"] * 4


# -- equal to diffusers ----------------------------------------------------------------------

def test_text_to_image_equals_diffusers(reg, tiny):
    n = names(reg)
    ours = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=4, seed=7,
                                                       width=96, height=64))[0]
    ref = diffusers_pipe("StableDiffusionPipeline", tiny["t2i"])(
        PROMPT, num_inference_steps=4, height=64, width=96, output_type="np",
        generator=torch.Generator("cpu").manual_seed(7)).images[0]
    assert ours.shape == (64, 96, 3)
    assert np.abs(ours - ref).mean() <= 1 / 255
    other = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt="a blue tree", steps=4, seed=7,
                                                        width=96, height=64))[0]
    assert np.abs(other - ours).mean() > 0.005          # the prompt matters


def test_single_file_and_ckpt_equal_the_folder(reg, tiny):
    n = names(reg)
    opts = gen.GenerateOptions(prompt=PROMPT, steps=3, seed=2)
    folder = gen.run(reg, n["t2i"], opts)[0]
    single = gen.run(reg, n["single"], opts)[0]
    r = Registry(None)
    ck = r.add_checkpoint(tiny["ckpt"], config=str(tiny["t2i"])).name
    assert np.abs(folder - single).max() <= 1e-6
    assert np.abs(folder - gen.run(r, ck, opts)[0]).max() <= 1e-6


def test_inpainting_equals_diffusers_inside_and_keeps_every_other_pixel(reg, tiny):
    n = names(reg)
    pic, mask = picture(), box_mask()
    opts = gen.GenerateOptions(prompt=PROMPT, steps=4, seed=3, mask_blur=0)
    ours = gen.run(reg, n["inp"], opts, pic, mask)[0]
    ref = diffusers_pipe("StableDiffusionInpaintPipeline", tiny["inp"])(
        PROMPT, image=pil(pic), mask_image=pil(mask), height=64, width=96,
        num_inference_steps=4, output_type="np",
        generator=torch.Generator("cpu").manual_seed(3)).images[0]
    inside = mask > 0.5
    assert np.abs(ours[inside] - ref[inside]).mean() <= 1 / 255
    assert np.array_equal(ours[~inside], pic[~inside])
    assert np.abs(ref[~inside] - pic[~inside]).mean() > 0.01   # diffusers alone does not


def test_mask_blur_feathers_inward_only(reg):
    n = names(reg)
    pic, mask = picture(), box_mask()
    ours = gen.run(reg, n["inp"], gen.GenerateOptions(prompt=PROMPT, steps=3, mask_blur=6),
                   pic, mask)[0]
    assert np.array_equal(ours[mask < 0.5], pic[mask < 0.5])
    alpha = gen.feather_alpha(mask, 6)
    assert alpha[16, 50] < 0.2 and alpha[28, 50] == 1.0 and alpha[10, 50] == 0.0


def test_a_text_to_image_model_inpaints_by_known_region_replacement(reg):
    n = names(reg)
    pic, mask = picture(seed=1), box_mask()
    ours = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=4, mask_blur=0),
                   pic, mask)[0]
    assert np.array_equal(ours[mask < 0.5], pic[mask < 0.5])
    assert np.abs(ours[mask > 0.5] - pic[mask > 0.5]).mean() > 0.05


def test_only_masked_works_on_a_crop_at_native_size(reg, tiny):
    n = names(reg)
    pic = picture(128, 128, seed=2)
    mask = np.zeros((128, 128), np.float32)
    mask[56:72, 50:70] = 1
    small = gen.GenerateOptions(only_masked=True, padding=8)
    assert gen.plan(small, 64, (128, 128), mask).box == (42, 46, 78, 82)   # squared, then
    assert (gen.plan(small, 64, (128, 128), mask).width, 64) == (64, 64)  # scaled up to 64
    opts = gen.GenerateOptions(prompt=PROMPT, steps=3, seed=4, mask_blur=0, only_masked=True,
                               padding=22)
    box = gen.plan(opts, 64, (128, 128), mask).box
    assert box == (28, 32, 92, 96)               # 64 x 64 around the mask: no resampling
    ours = gen.run(reg, n["inp"], opts, pic, mask)[0]
    crop = (slice(box[1], box[3]), slice(box[0], box[2]))
    ref = diffusers_pipe("StableDiffusionInpaintPipeline", tiny["inp"])(
        PROMPT, image=pil(pic[crop]), mask_image=pil(mask[crop]), height=64, width=64,
        num_inference_steps=3, output_type="np",
        generator=torch.Generator("cpu").manual_seed(4)).images[0]
    inside = mask > 0.5
    assert np.abs(ours[inside] - ref[mask[crop] > 0.5]).mean() <= 1 / 255
    assert np.array_equal(ours[~inside], pic[~inside])


def test_img2img_keeps_the_pictures_own_size(reg):
    n = names(reg)
    pic = picture(100, 70)           # not multiples of 8: worked at 96 x 72, returned 100 x 70
    out = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=4, strength=0.5),
                  pic)[0]
    assert out.shape == (70, 100, 3)
    assert gen.plan(gen.GenerateOptions(), 64, (100, 70), None).width == 96
    bigger = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=4, strength=0.5,
                                                         width=140, height=100), pic)[0]
    assert bigger.shape == (100, 140, 3)                 # img2img at the asked size


@pytest.mark.parametrize("name", gen.SCHEDULER_NAMES)
def test_every_scheduler_runs(reg, name):
    n = names(reg)
    out = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=3, scheduler=name))
    assert out[0].shape == (64, 64, 3) and np.isfinite(out[0]).all()


def test_a_seed_gives_the_same_picture_and_batches_count_up(reg):
    n = names(reg)
    a = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=3, seed=11, batch=2))
    b = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=3, seed=12))
    assert np.array_equal(a[1], b[0]) and not np.array_equal(a[0], a[1])


def test_cancel_stops_within_one_step_with_previews(reg):
    n = names(reg)
    seen = []

    def on(f, preview):
        seen.append(preview.shape)
        ctx.cancel()

    ctx = JobContext(on)
    with pytest.raises(Cancelled):
        gen.run(reg, n["inp"], gen.GenerateOptions(prompt=PROMPT, steps=20), picture(),
                box_mask(), ctx=ctx)
    assert seen == [(64, 96, 3)]


# -- LoRA ------------------------------------------------------------------------------------

def _lora_files(folder: Path, out: Path) -> tuple[Path, Path]:
    """A random LoRA of the tiny U-Net, saved by diffusers, and the same in kohya's keys."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    pipe = diffusers_pipe("StableDiffusionPipeline", folder)
    torch.manual_seed(0)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in pipe.unet.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3)
    layers = get_peft_model_state_dict(pipe.unet)
    out.mkdir(parents=True, exist_ok=True)
    type(pipe).save_lora_weights(str(out), unet_lora_layers=layers,
                                 weight_name="diffusers-style.safetensors")
    diff = out / "diffusers-style.safetensors"
    kohya = {}
    for k, v in load_file(str(diff)).items():
        module, _, kind = k.removeprefix("unet.").rpartition(".lora_")
        base = "lora_unet_" + module.replace(".", "_")
        kohya[f"{base}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = v
        kohya[f"{base}.alpha"] = torch.tensor(4.0)
    save_file(kohya, str(out / "kohya-style.safetensors"))
    return diff, out / "kohya-style.safetensors"


def test_loras_in_both_key_styles_change_the_picture_alike(reg, tiny):
    n = names(reg)
    diff, kohya = _lora_files(tiny["t2i"], tiny["root"] / "lora")
    opts = gen.GenerateOptions(prompt=PROMPT, steps=3, seed=5)
    plain = gen.run(reg, n["t2i"], opts)[0]
    with_d = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt=PROMPT, steps=3, seed=5, loras=((str(diff), 1.0),)))[0]
    with_k = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt=PROMPT, steps=3, seed=5, loras=((str(kohya), 1.0),)))[0]
    zero = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt=PROMPT, steps=3, seed=5, loras=((str(diff), 0.0),)))[0]
    both = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt=PROMPT, steps=3, seed=5, loras=((str(diff), 0.5), (str(kohya), 0.5))))[0]
    again = gen.run(reg, n["t2i"], opts)[0]
    assert np.abs(with_d - plain).mean() > 0.01
    assert np.abs(with_d - with_k).max() <= 1e-4
    assert np.abs(zero - plain).max() <= 1e-5
    assert np.abs(both - with_d).max() <= 1e-4          # half of each of the same LoRA
    assert np.abs(again - plain).max() <= 1e-6          # none active: gone again


def test_a_file_that_is_no_lora_is_a_clear_error(reg, tiny, tmp_path):
    n = names(reg)
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"nothing.weight": torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match="LoRA"):
        gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=PROMPT, steps=2,
                                                    loras=((str(bad), 1.0),)))


# -- the command line ------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_generate_and_inpaint(tiny, tmp_path):
    pil(picture()).save(tmp_path / "in.png")
    pil(box_mask()).save(tmp_path / "mask.png")
    r = cli("generate", "--model", str(tiny["single"]), "--config", str(tiny["t2i"]),
            "--prompt", PROMPT, "--steps", "3", "--seed", "9", "--out", str(tmp_path / "g.png"))
    assert r.returncode == 0, r.stderr
    img = Image.open(tmp_path / "g.png")
    assert img.size == (64, 64) and "Seed: 9" in img.text["parameters"]
    r = cli("inpaint", "--model", str(tiny["inp"]), "--prompt", PROMPT, "--steps", "3",
            "--mask-blur", "0", str(tmp_path / "in.png"), str(tmp_path / "mask.png"),
            "--out", str(tmp_path / "i.png"))
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "i.png"), np.float32) / 255
    keep = box_mask() < 0.5
    assert np.array_equal(out[keep], picture()[keep])
    r = cli("generate", "--model", str(tiny["single"]), "--prompt", "x", "--out",
            str(tmp_path / "x.png"))
    assert r.returncode == 2 and "--config" in r.stderr and "Traceback" not in r.stderr
    r = cli("generate", "--model", str(tiny["t2i"]), "--prompt", "x", "--lora",
            str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "x.png"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_pickle_module_is_never_used_to_open(tiny, monkeypatch):
    """Opening runs no unrestricted unpickler (only torch's weights-only one)."""
    def boom(*a, **k):
        raise AssertionError("pickle.load used")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    assert sd.read_ckpt_state(tiny["ckpt"])


def test_previews_are_projections_or_every_nth_a_vae_decode(reg):
    from models.protocol import GenerateRequest

    backend = reg.get(names(reg)["t2i"])
    shapes = []
    backend.generate(GenerateRequest(prompt=PROMPT, steps=4, width=64, height=64,
                                     preview_decode_every=2),
                     ctx=JobContext(lambda f, p: shapes.append(p.shape)))
    assert shapes[:4] == [(8, 8, 3), (64, 64, 3), (8, 8, 3), (64, 64, 3)]


def test_loading_reports_progress(tiny):
    r = Registry(None)
    name = r.add_checkpoint(tiny["t2i"]).name
    assert r.loaded() == []                        # registering read only the configs
    seen = []
    r.get(name, ctx=JobContext(lambda f, p: seen.append(f)))
    assert seen[0] < 0.5 and seen[-1] == 1.0 and (name, "cpu") in r.loaded()


def test_a_textual_inversion_is_called_by_its_file_name(reg, tmp_path):
    from safetensors.torch import save_file

    n = names(reg)
    torch.manual_seed(3)
    save_file({"emb_params": torch.randn(1, 32) * 3}, str(tmp_path / "paintstyle.safetensors"))
    torch.save({"string_to_token": {"*": 265}, "string_to_param": {"*": torch.randn(1, 32)},
                "name": "oldpt", "step": 500}, str(tmp_path / "oldpt.pt"))       # A1111's .pt
    prompt = "a paintstyle house"
    plain = gen.run(reg, n["t2i"], gen.GenerateOptions(prompt=prompt, steps=3))[0]
    called = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt=prompt, steps=3, embeddings=(str(tmp_path / "paintstyle.safetensors"),)))[0]
    assert np.abs(called - plain).mean() > 0.005
    other = gen.run(reg, n["t2i"], gen.GenerateOptions(
        prompt="a red house", steps=3, embeddings=(str(tmp_path / "oldpt.pt"),)))[0]
    assert np.isfinite(other).all()
    save_file({"emb_params": torch.randn(1, 64)}, str(tmp_path / "wide.safetensors"))
    with pytest.raises(ValueError, match="wide.safetensors"):
        gen.run(reg, n["t2i"], gen.GenerateOptions(
            prompt="a wide house", steps=2, embeddings=(str(tmp_path / "wide.safetensors"),)))


def test_sdxl_folder_equals_diffusers_and_inpaints_keeping_pixels(tmp_path):
    folder = sd_tiny.build_xl(tmp_path / "xl")
    card = sd.read_card(folder)
    assert card["config"]["xl"] and card["config"]["pipeline"] == "StableDiffusionXLPipeline"
    r = Registry(None)
    name = r.add_checkpoint(folder).name
    ours = gen.run(r, name, gen.GenerateOptions(prompt=PROMPT, steps=3, seed=1,
                                                 width=96, height=64))[0]
    import diffusers

    ref_pipe = diffusers.StableDiffusionXLPipeline.from_pretrained(str(folder),
                                                                    local_files_only=True)
    ref_pipe.set_progress_bar_config(disable=True)
    ref = ref_pipe(PROMPT, num_inference_steps=3, height=64, width=96, output_type="np",
                   guidance_scale=7.5, generator=torch.Generator("cpu").manual_seed(1)).images[0]
    assert np.abs(ours - ref).mean() <= 1 / 255
    pic, mask = picture(), box_mask()
    painted = gen.run(r, name, gen.GenerateOptions(prompt=PROMPT, steps=3, mask_blur=2),
                      pic, mask)[0]
    assert np.array_equal(painted[mask < 0.5], pic[mask < 0.5])


def test_a_v_prediction_model_is_read_and_run_as_diffusers_does(tmp_path):
    folder = sd_tiny.build(tmp_path / "v", prediction="v_prediction")
    assert sd.read_card(folder)["config"]["prediction"] == "v_prediction"
    r = Registry(None)
    name = r.add_checkpoint(folder).name
    ours = gen.run(r, name, gen.GenerateOptions(prompt=PROMPT, steps=3, seed=2))[0]
    ref = diffusers_pipe("StableDiffusionPipeline", folder)(
        PROMPT, num_inference_steps=3, height=64, width=64, output_type="np",
        generator=torch.Generator("cpu").manual_seed(2)).images[0]
    assert np.abs(ours - ref).mean() <= 1 / 255


def test_opening_and_running_never_touch_the_network(tiny, monkeypatch):
    import socket

    def refuse(*a, **k):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    r = Registry(None)
    for path, config in ((tiny["single"], str(tiny["t2i"])), (tiny["ckpt"], str(tiny["t2i"])),
                         (tiny["inp"], None)):
        name = r.add_checkpoint(path, config=config).name
        assert gen.run(r, name, gen.GenerateOptions(prompt=PROMPT, steps=2))[0].shape == \
            (64, 64, 3)


def test_a_folder_missing_a_part_names_it(tiny, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny["t2i"], broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    r = Registry(None)
    name = r.add_checkpoint(broken).name
    with pytest.raises(CheckpointError, match="unet|diffusion_pytorch_model"):
        r.get(name)
