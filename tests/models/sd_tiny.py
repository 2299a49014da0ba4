"""Tiny random Stable Diffusion pipelines built by diffusers and transformers themselves, saved
as a diffusers folder, as a single original-layout .safetensors and as a .ckpt (seconds on a
CPU; nothing downloaded).

The single file is written by our own map from diffusers' names back to the original
(CompVis) layout, so diffusers' single-file loader reads it as it reads a real one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
import tqdm

# The libraries' progress bars would start tqdm's monitor thread, which outlives a test.
tqdm.tqdm.monitor_interval = 0

WORDS = ("a photo of cat dog red blue green house tree sky painting portrait landscape "
         "bright dark sks").split()


def tiny_tokenizer_files(folder: Path) -> None:
    """A CLIPTokenizer vocabulary of bytes, a few words and the specials."""
    folder.mkdir(parents=True, exist_ok=True)
    from models.image.sd import _byte_alphabet

    symbols = list(_byte_alphabet().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [w + "</w>" for w in WORDS]
    merges: list[str] = []
    for w in WORDS:        # merge each word left to right into one token
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            if parts[0] not in tokens:
                tokens.append(parts[0])
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    merges = list(dict.fromkeys(merges))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"model_max_length": 77, "pad_token": "<|endoftext|>",
         "tokenizer_class": "CLIPTokenizer"}))


def _tokenizer(folder: Path):
    """The tiny vocabulary's CLIPTokenizer (written under ``folder/_tok``)."""
    from transformers import CLIPTokenizer

    from models.image.sd import _quiet

    _quiet()                       # no progress bars (and no tqdm monitor thread left over)
    tiny_tokenizer_files(folder / "_tok")
    return CLIPTokenizer(vocab=str(folder / "_tok" / "vocab.json"),
                         merges=str(folder / "_tok" / "merges.txt"), model_max_length=77)


def _vae(seed: int):
    """An AutoencoderKL with 4 levels: pictures 8 times the latent's size, as in SD."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(block_out_channels=(16, 16, 32, 32), layers_per_block=1,
                         latent_channels=4, norm_num_groups=16, sample_size=64,
                         down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4)


def build(folder: Path, *, in_channels: int = 4, seed: int = 0,
          prediction: str = "epsilon") -> Path:
    """Save a tiny SD 1.x-style pipeline folder (``in_channels`` 9: an inpainting model)."""
    from diffusers import (
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    folder = Path(folder)
    tok = _tokenizer(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8,
        in_channels=in_channels, out_channels=4, cross_attention_dim=32, attention_head_dim=4,
        norm_num_groups=16,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    # Random attention hardly reacts to the text: sharpen the cross-attention so it does.
    with torch.no_grad():
        for name, p in unet.named_parameters():
            if "attn2.to_q" in name or "attn2.to_k" in name:
                p.mul_(8.0)
    vae = _vae(seed + 1)
    torch.manual_seed(seed + 2)
    text = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        vocab_size=len(tok), projection_dim=32, bos_token_id=len(tok) - 2,
        eos_token_id=len(tok) - 1, pad_token_id=1))
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                          num_train_timesteps=1000, skip_prk_steps=True, steps_offset=1,
                          set_alpha_to_one=False, prediction_type=prediction)
    cls = StableDiffusionInpaintPipeline if in_channels == 9 else StableDiffusionPipeline
    pipe = cls(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched,
               safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder))
    # Real SD folders ship vocab.json + merges.txt; keep them beside what transformers wrote.
    for f in ("vocab.json", "merges.txt"):
        (folder / "tokenizer" / f).write_bytes((folder / "_tok" / f).read_bytes())
    return folder


# -- diffusers -> original (CompVis) names ---------------------------------------------------

def _unet_to_original(state: dict[str, torch.Tensor], layers: int, n_blocks: int
                      ) -> dict[str, torch.Tensor]:
    resnet = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"),
              ("time_emb_proj", "emb_layers.1"), ("norm2", "out_layers.0"),
              ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]
    fixed = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    out = {}
    for key, v in state.items():
        k = key
        for a, b in fixed.items():
            if k.startswith(a + "."):
                k = b + k[len(a):]
        m = re.match(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", k)
        if m:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            k = f"input_blocks.{(layers + 1) * i + j + 1}.{0 if kind == 'resnets' else 1}.{rest}"
        m = re.match(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.*)", k)
        if m:
            k = f"input_blocks.{(layers + 1) * (int(m[1]) + 1)}.0.op.{m[2]}"
        m = re.match(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)", k)
        if m:
            k = f"middle_block.{1 if m[1] == 'attentions' else 2 * int(m[2])}.{m[3]}"
        m = re.match(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.*)", k)
        if m:
            i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
            k = f"output_blocks.{(layers + 1) * i + j}.{0 if kind == 'resnets' else 1}.{rest}"
        m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.*)", k)
        if m:
            i = int(m[1])
            has_attn = any(s.startswith(f"up_blocks.{i}.attentions.") for s in state)
            k = f"output_blocks.{(layers + 1) * i + layers}.{2 if has_attn else 1}.{m[2]}"
        if ".resnets." in key:
            for a, b in resnet:
                k = k.replace(f".{a}.", f".{b}.")
        out["model.diffusion_model." + k] = v
    return out


def _vae_to_original(state: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    resnet = [("conv_shortcut", "nin_shortcut")]
    attn = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"),
            ("to_out.0", "proj_out")]
    out = {}
    for key, v in state.items():
        k = key
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.",
                   r"encoder.down.\1.block.\2.", k)
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.",
                   r"encoder.down.\1.downsample.", k)
        m = re.match(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.*)", k)
        if m:
            level = n - 1 - int(m[1])
            k = (f"decoder.up.{level}.block.{m[3]}.{m[4]}" if m[2] == "resnets"
                 else f"decoder.up.{level}.upsample.{m[4]}")
        k = re.sub(r"^(encoder|decoder)\.mid_block\.resnets\.(\d+)\.",
                   lambda mm: f"{mm[1]}.mid.block_{int(mm[2]) + 1}.", k)
        if ".mid_block.attentions.0." in k:
            k = k.replace(".mid_block.attentions.0.", ".mid.attn_1.")
            for a, b in attn:
                k = k.replace(f".attn_1.{a}.", f".attn_1.{b}.")
            if v.ndim == 2:          # the original keeps 1x1 convolutions
                v = v[:, :, None, None]
        k = k.replace(".conv_norm_out.", ".norm_out.")
        for a, b in resnet:
            k = k.replace(f".{a}.", f".{b}.")
        out["first_stage_model." + k] = v
    return out


def original_state(folder: Path) -> dict[str, torch.Tensor]:
    """The tiny pipeline's weights in the original single-file layout."""
    from safetensors.torch import load_file

    folder = Path(folder)
    unet_cfg = json.loads((folder / "unet" / "config.json").read_text())
    vae_cfg = json.loads((folder / "vae" / "config.json").read_text())
    unet = load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors"))
    vae = load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors"))
    text = load_file(str(folder / "text_encoder" / "model.safetensors"))
    out = _unet_to_original(unet, unet_cfg["layers_per_block"],
                            len(unet_cfg["block_out_channels"]))
    out.update(_vae_to_original(vae, len(vae_cfg["block_out_channels"])))
    for k, v in text.items():
        k = k if k.startswith("text_model.") else "text_model." + k
        out["cond_stage_model.transformer." + k] = v
    return {k: v.contiguous() for k, v in out.items()}


def single_file(folder: Path, out: Path) -> Path:
    from safetensors.torch import save_file

    save_file(original_state(folder), str(out))
    return out


class _Trainer:
    """Stands for PyTorch Lightning's callback objects inside a real .ckpt."""


def ckpt_file(folder: Path, out: Path) -> Path:
    """A .ckpt as Lightning writes it: the state dict plus a callback object and a step."""
    import sys
    import types

    name = "pytorch_lightning.callbacks.model_checkpoint"
    mods = {}
    for part in ("pytorch_lightning", "pytorch_lightning.callbacks", name):
        mods[part] = sys.modules.get(part)
        sys.modules[part] = types.ModuleType(part)
    cls = type("ModelCheckpoint", (_Trainer,), {"__module__": name})
    sys.modules[name].ModelCheckpoint = cls
    try:
        cb = cls()
        cb.best_model_score = torch.tensor(0.5)
        cb.dirpath = "/logs"
        torch.save({"state_dict": original_state(folder), "global_step": 470000,
                    "callbacks": {"ModelCheckpoint": cb}}, str(out))
    finally:
        for part, mod in mods.items():
            if mod is None:
                sys.modules.pop(part, None)
            else:
                sys.modules[part] = mod
    return out


def build_xl(folder: Path, seed: int = 0) -> Path:
    """A tiny SDXL-style pipeline folder: two text encoders (the second with a projection,
    whose pooled output and the size/crop conditioning feed the U-Net's added embedding)."""
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
    )

    folder = Path(folder)
    tok = _tokenizer(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=8, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4),
        use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * 8 + 32, cross_attention_dim=64,
        norm_num_groups=16)
    vae = _vae(seed + 1)
    cfg = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
               num_attention_heads=4, vocab_size=len(tok), projection_dim=32,
               bos_token_id=len(tok) - 2, eos_token_id=len(tok) - 1, pad_token_id=1)
    torch.manual_seed(seed + 2)
    text = CLIPTextModel(CLIPTextConfig(**cfg))
    torch.manual_seed(seed + 3)
    text2 = CLIPTextModelWithProjection(CLIPTextConfig(**cfg))
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", steps_offset=1,
                                   timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text, text_encoder_2=text2,
                                     tokenizer=tok, tokenizer_2=tok, unet=unet, scheduler=sched)
    pipe.save_pretrained(str(folder))
    for sub in ("tokenizer", "tokenizer_2"):
        for f in ("vocab.json", "merges.txt"):
            (folder / sub / f).write_bytes((folder / "_tok" / f).read_bytes())
    return folder
