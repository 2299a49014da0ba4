"""Write the diffusers configs that single-file Stable Diffusion checkpoints are loaded with.

A single ``.safetensors`` / ``.ckpt`` in the original layout carries weights only; diffusers
builds each part from a diffusers folder's configs (``from_single_file(config=FOLDER)``),
which it would otherwise fetch from the hub. These are the published architectures of each
base model, written here from their hyper-parameters (diffusers and transformers fill every
other field with their defaults), so the studio never goes online:

    python scripts/sd_configs.py        # rewrites resources/sd-configs/
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "resources" / "sd-configs"

SD1_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=[320, 640, 1280, 1280], attention_head_dim=8, cross_attention_dim=768,
    down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
SD2_UNET = {**SD1_UNET, "attention_head_dim": [5, 10, 20, 20], "cross_attention_dim": 1024,
            "use_linear_projection": True}
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=[320, 640, 1280], attention_head_dim=[5, 10, 20],
    transformer_layers_per_block=[1, 2, 10], cross_attention_dim=2048,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    use_linear_projection=True, addition_embed_type="text_time",
    addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
           block_out_channels=[128, 256, 512, 512], sample_size=512,
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, projection_dim=768, hidden_act="quick_gelu",
              max_position_embeddings=77, vocab_size=49408)
# OpenCLIP ViT-H/14 as SD 2 uses it: its penultimate layer, so 23 of the 24 layers.
CLIP_H = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
              num_attention_heads=16, projection_dim=512, hidden_act="gelu",
              max_position_embeddings=77, vocab_size=49408)
CLIP_G = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, projection_dim=1280, hidden_act="gelu",
              max_position_embeddings=77, vocab_size=49408)
SCALED_LINEAR = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                     beta_schedule="scaled_linear", steps_offset=1)

# name -> (pipeline, unet, vae, text encoders, scheduler class + settings, tokenizer pads)
BASES = {
    "sd15": ("StableDiffusionPipeline", SD1_UNET, VAE, [("CLIPTextModel", CLIP_L)],
             ("PNDMScheduler", dict(SCALED_LINEAR, skip_prk_steps=True,
                                    set_alpha_to_one=False)), ["<|endoftext|>"]),
    "sd15-inpaint": ("StableDiffusionInpaintPipeline", {**SD1_UNET, "in_channels": 9}, VAE,
                     [("CLIPTextModel", CLIP_L)],
                     ("PNDMScheduler", dict(SCALED_LINEAR, skip_prk_steps=True,
                                            set_alpha_to_one=False)), ["<|endoftext|>"]),
    "sd2-base": ("StableDiffusionPipeline", SD2_UNET, VAE, [("CLIPTextModel", CLIP_H)],
                 ("PNDMScheduler", dict(SCALED_LINEAR, skip_prk_steps=True,
                                        set_alpha_to_one=False)), ["!"]),
    "sd2-v": ("StableDiffusionPipeline", {**SD2_UNET, "sample_size": 96},
              {**VAE, "sample_size": 768}, [("CLIPTextModel", CLIP_H)],
              ("DDIMScheduler", dict(SCALED_LINEAR, clip_sample=False, set_alpha_to_one=False,
                                     prediction_type="v_prediction")), ["!"]),
    "sd2-inpaint": ("StableDiffusionInpaintPipeline", {**SD2_UNET, "in_channels": 9}, VAE,
                    [("CLIPTextModel", CLIP_H)],
                    ("DDIMScheduler", dict(SCALED_LINEAR, clip_sample=False,
                                           set_alpha_to_one=False)), ["!"]),
    "sdxl": ("StableDiffusionXLPipeline", SDXL_UNET,
             {**VAE, "sample_size": 1024, "scaling_factor": 0.13025, "force_upcast": True},
             [("CLIPTextModel", CLIP_L), ("CLIPTextModelWithProjection", CLIP_G)],
             ("EulerDiscreteScheduler", dict(SCALED_LINEAR, timestep_spacing="leading",
                                             interpolation_type="linear")),
             ["<|endoftext|>", "!"]),
    "sdxl-inpaint": ("StableDiffusionXLInpaintPipeline", {**SDXL_UNET, "in_channels": 9},
                     {**VAE, "sample_size": 1024, "scaling_factor": 0.13025,
                      "force_upcast": True},
                     [("CLIPTextModel", CLIP_L), ("CLIPTextModelWithProjection", CLIP_G)],
                     ("EulerDiscreteScheduler", dict(SCALED_LINEAR, timestep_spacing="leading",
                                                     interpolation_type="linear")),
                     ["<|endoftext|>", "!"]),
}


def write(name: str) -> None:
    import diffusers
    import transformers
    from accelerate import init_empty_weights

    pipeline, unet, vae, encoders, (sched_cls, sched), pads = BASES[name]
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    with init_empty_weights():
        diffusers.UNet2DConditionModel(**unet).save_config(folder / "unet")
        diffusers.AutoencoderKL(**vae).save_config(folder / "vae")
    getattr(diffusers, sched_cls)(**sched).save_config(folder / "scheduler")
    index = {"_class_name": pipeline, "_diffusers_version": diffusers.__version__,
             "scheduler": ["diffusers", sched_cls], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    for i, ((cls, cfg), pad) in enumerate(zip(encoders, pads)):
        suffix = "" if i == 0 else f"_{i + 1}"
        config = transformers.CLIPTextConfig(**cfg, bos_token_id=49406, eos_token_id=49407,
                                             pad_token_id=1)
        config.architectures = [cls]
        config.save_pretrained(folder / f"text_encoder{suffix}")
        index[f"text_encoder{suffix}"] = ["transformers", cls]
        index[f"tokenizer{suffix}"] = ["transformers", "CLIPTokenizer"]
        # The vocabulary comes from open-clip-torch at load time; only its settings ship.
        (folder / f"tokenizer{suffix}").mkdir()
        (folder / f"tokenizer{suffix}" / "settings.json").write_text(
            json.dumps({"pad_token": pad, "model_max_length": 77}, indent=2) + "\n")
    if pipeline.startswith("StableDiffusionXL"):
        index["force_zeros_for_empty_prompt"] = True
    else:
        index.update(safety_checker=[None, None], feature_extractor=[None, None],
                     requires_safety_checker=False)
    (folder / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")


if __name__ == "__main__":
    for base in BASES:
        write(base)
        print(OUT / base)
