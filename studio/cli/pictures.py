"""Picture commands: reconstruct, interpolate, directions, style mixing, inpainting and
Stable Diffusion generation; each run is a recipe."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli.common import (
    CLIError,
    _end,
    _latent_model,
    _pair_rows,
    _Parser,
    _recipe,
    _registry,
    _resolve_model,
    _run_recipe,
)


def add_parsers(sub) -> None:
    """This group's commands on the top parser's subparsers."""
    dr = sub.add_parser("directions", help="move pictures along a latent model's directions")
    drsub = dr.add_subparsers(dest="directions_command", required=True, parser_class=_Parser)
    dl = drsub.add_parser("list", help="the directions of a model, with their measurements")
    dl.add_argument("--model", required=True, metavar="NAME|FILE")
    dl.add_argument("--json", action="store_true")
    da = drsub.add_parser("apply", help="encode a picture, step along a direction, decode")
    da.add_argument("input", type=Path, metavar="IN.png")
    da.add_argument("--model", required=True, metavar="NAME|FILE")
    da.add_argument("--direction", required=True, help="e.g. bold, italic, wide, pc1")
    da.add_argument("--amount", type=float, required=True,
                    help="steps (one step: one standard deviation of the data along it)")
    da.add_argument("--hold", action="append", default=[], metavar="DIRECTION",
                    help="keep this direction unchanged while editing (repeat)")
    da.add_argument("--layers", default=None, metavar="A-B",
                    help="style models: the layer rows to move (default: the direction's own)")
    da.add_argument("--out", type=Path, required=True, metavar="OUT.png")
    da.add_argument("--scale", type=int, default=1, help="enlarge the written picture")


    rc = sub.add_parser("reconstruct", help="encode then decode images with a latent model")
    rc.add_argument("--model", required=True, help="a model name or a checkpoint file")
    rc.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    rc.add_argument("--config", help="the configs a single-file Stable Diffusion checkpoint or "
                    "VAE takes: a diffusers folder or a shipped base (sd15, sdxl, ...)")
    g = rc.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", type=Path, help="output picture (one input)")
    g.add_argument("--out-dir", type=Path, help="folder; each output keeps its input's name")

    ip = sub.add_parser("interpolate", help="decode a path between two images")
    ip.add_argument("--model", required=True, help="a model name or a checkpoint file")
    ip.add_argument("a", metavar="A", help="a picture, or a seed of a model that samples")
    ip.add_argument("b", metavar="B", help="a picture, or a seed")
    ip.add_argument("--config", help="the configs a single-file Stable Diffusion checkpoint or "
                    "VAE takes: a diffusers folder or a shipped base (sd15, sdxl, ...)")
    ip.add_argument("--steps", type=int, default=8)
    ip.add_argument("--mode", choices=("linear", "slerp"), default="slerp")
    ip.add_argument("--out", type=Path, required=True, help="strip.png or anim.gif")
    ip.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=None,
                    help="enlarge each frame (default: 1 for a strip, 2 for a GIF)")
    ip.add_argument("--smooth", action="store_true",
                    help="enlarge smoothly (bicubic) instead of in pixel blocks")

    sx = sub.add_parser("stylemix", help="mix the styles of two pictures or seeds, or draw "
                        "characters in the style of a few glyphs")
    sx.add_argument("--model", default="stylegen-glyphs",
                    help="a style generator's name or checkpoint file")
    sx.add_argument("--a", metavar="A.png|SEED", help="source A: a picture or a seed")
    sx.add_argument("--b", metavar="B.png|SEED", help="source B: a picture or a seed")
    cross = sx.add_mutually_exclusive_group()
    cross.add_argument("--layers", help="rows of W+ that take B's codes, e.g. 0-3 or 2,5")
    cross.add_argument("--preset", choices=("coarse", "middle", "fine", "style", "content"),
                       help="named rows that take B's codes")
    sx.add_argument("--content", type=Path, metavar="A.png",
                    help="the character to draw (with --style)")
    sx.add_argument("--style", type=Path, nargs="+", metavar="B.png",
                    help="one or more glyphs of the style to draw in")
    sx.add_argument("--text", help="text to write in the --style (one line)")
    sx.add_argument("--pairs", type=Path, metavar="PAIRS.csv",
                    help="CSV with header content,style,out: one picture per row")
    sx.add_argument("--psi", type=float, default=1.0, help="truncation (1: none, 0: the mean)")
    sx.add_argument("--strength", type=float, default=1.0,
                    help="style strength with --style (1: the glyphs' style, 0: the mean font)")
    sx.add_argument("--cutoff", type=int, default=None,
                    help="truncate only rows below this one (default: all)")
    sx.add_argument("--seed", type=int, default=None,
                    help="noise seed (default: no per-layer noise; a StyleGAN pickle's own "
                         "fixed noise)")
    sx.add_argument("--class", dest="klass", type=int, default=0, metavar="C",
                    help="the class seeds are drawn from (a conditional model)")
    sx.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=1,
                    help="enlarge the result in pixel blocks")
    sx.add_argument("--out", type=Path, help="output picture")
    sx.add_argument("--out-dir", type=Path, help="output folder (with --pairs)")

    ip = sub.add_parser("inpaint", help="repaint the masked part of a picture with a "
                        "diffusion model")
    ip.add_argument("--model", default="diffusion-glyphs",
                    help="an inpainting model's name or checkpoint (a diffusers UNet or "
                    "pipeline folder too)")
    ip.add_argument("inputs", type=Path, nargs="*", metavar="IN.png MASK.png",
                    help="the picture and its mask (white = repaint, any size)")
    ip.add_argument("--pairs", type=Path, metavar="PAIRS.csv",
                    help="CSV with header image,mask,out: one result per row, one model load")
    ip.add_argument("--steps", type=int, default=0,
                    help="denoising steps (default: the --repaint preset's, 50 or 250; "
                    "Stable Diffusion 25)")
    ip.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    ip.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance scale: with --class for the studio's models "
                    "(default 1; 0 ignores the class), of the prompt for Stable Diffusion "
                    "(default 7.5)")
    ip.add_argument("--class", dest="label", metavar="C",
                    help="the class to paint (a glyph character, e.g. g); default none")
    ip.add_argument("--seed", type=int, default=0)
    ip.add_argument("--repaint", choices=("none", "fast", "quality"), default="none",
                    help="RePaint resampling: fast 50 steps, jump 5, 5 resamplings (230 "
                    "network calls); quality 250/10/10 (2,410)")
    ip.add_argument("--feather", type=float, default=1.5,
                    help="width in pixels of the blend at the mask's edge")
    ip.add_argument("--frame-glyph", action="store_true",
                    help="glyph models: find the glyph in the picture and frame it as the "
                    "data set frames its glyphs, the mask moved with it (the panel's 'Frame "
                    "as a glyph'); without it the picture is centre-cropped and resized")
    ip.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=1,
                    help="enlarge the result in pixel blocks")
    ip.add_argument("--out", type=Path, help="output picture (PNG keeps the options)")
    ip.add_argument("--out-dir", type=Path, help="output folder (with --pairs)")
    _prompt_arguments(ip, inpaint=True)


    ge = sub.add_parser("generate", help="text-to-image (or img2img with --image) with a "
                        "Stable Diffusion checkpoint")
    ge.add_argument("--model", required=True, metavar="PATH",
                    help="a diffusers folder, an original-layout .safetensors or a .ckpt")
    ge.add_argument("--steps", type=int, default=25)
    ge.add_argument("--guidance", type=float, default=7.5)
    ge.add_argument("--seed", type=int, default=0)
    ge.add_argument("--image", type=Path, metavar="IN.png",
                    help="start from this picture (img2img, at its own size)")
    ge.add_argument("--out", type=Path, required=True,
                    help="output PNG (with --batch N: OUT-1.png, OUT-2.png, ...)")
    _prompt_arguments(ge, inpaint=False)


def _prompt_arguments(p: argparse.ArgumentParser, inpaint: bool) -> None:
    """The options of a Stable Diffusion run (generate, and inpaint with such a model)."""
    from models.tasks.generate import SCHEDULER_NAMES

    p.add_argument("--prompt", default=None, help="what to paint (Stable Diffusion)")
    p.add_argument("--negative", default="", help="what not to paint")
    p.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="default",
                   help="the model's own (default) or another diffusers scheduler")
    p.add_argument("--width", type=int, default=0,
                   help="width in pixels (default: the picture's own, or the model's native)")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--strength", type=float, default=None,
                   help="how much of the picture is repainted, 0-1 (default 1 to inpaint, "
                   "0.75 for img2img)")
    p.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]",
                   help="a LoRA .safetensors (diffusers or kohya keys), weight 1 by default; "
                   "repeat for several")
    p.add_argument("--embedding", action="append", default=[], metavar="FILE",
                   help="a textual-inversion embedding; its file name (without extension) "
                   "is the word that calls it in the prompt; repeat for several")
    p.add_argument("--config", default=None, metavar="FOLDER|BASE",
                   help="the diffusers folder (or shipped base: sd15, sd15-inpaint, sd2-base, "
                   "sd2-v, sd2-inpaint, sdxl, sdxl-inpaint) whose configs a single-file "
                   "checkpoint takes (default: the base its keys and shapes show)")
    p.add_argument("--batch", type=int, default=1, help="pictures to make (seeds S, S+1, ...)")
    p.add_argument("--precision", choices=("auto", "float32", "float16", "bfloat16"),
                   default="auto", help="float16 on a GPU by default, float32 on the CPU")
    p.add_argument("--offload", action="store_true",
                   help="keep the model on the CPU and move each part to the GPU in turn")
    p.add_argument("--attention-slicing", action="store_true",
                   help="compute attention in slices: less memory, a little slower")
    if inpaint:
        p.add_argument("--mask-blur", type=float, default=4.0, metavar="PX",
                       help="feather the paste of the result inward (Stable Diffusion)")
        p.add_argument("--only-masked", action="store_true",
                       help="work on a crop around the mask at the model's native size")
        p.add_argument("--padding", type=int, default=32, metavar="PX",
                       help="context around the mask with --only-masked")


def cmd_reconstruct(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.inputs) > 1:
        raise CLIError(f"{len(args.inputs)} inputs need --out-dir, not --out")

    reg, model = _latent_model(args.model, args.config)
    info = reg.info(model)
    params = {"config": str(args.config) if args.config else ""}
    if args.out is not None:
        outs = [args.out]
    else:
        names = [p.name for p in args.inputs]
        if len(set(names)) != len(names):
            raise CLIError("two inputs share a file name; --out-dir keeps names, so rename one")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        outs = [args.out_dir / p.name for p in args.inputs]
        outs = [o if o.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif") else
                o.with_suffix(".png") for o in outs]
    for p in args.inputs:
        if not p.is_file():
            raise CLIError(f"{p}: no such file")
    for p, out in zip(args.inputs, outs):   # each at its own size where the latent follows it
        _run_recipe(reg, _recipe("reconstruct", params, info, {"picture": p}), out)
        print(out)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise CLIError(f"{args.out}: write a strip (.png) or an animation (.gif)")
    if not 2 <= args.steps <= 512:
        raise CLIError(f"--steps must be between 2 and 512, got {args.steps}")
    reg, model = _latent_model(args.model, args.config)
    (a, ia), (b, ib) = _end(args.a, "a"), _end(args.b, "b")
    params = {"a": a, "b": b, "steps": args.steps, "mode": args.mode,
              "scale": args.scale or (2 if suffix == ".gif" else 1), "smooth": args.smooth,
              "config": str(args.config) if args.config else ""}
    _run_recipe(reg, _recipe("interpolate", params, reg.info(model), {**ia, **ib}), args.out)
    print(args.out)
    return 0


def cmd_stylemix(args: argparse.Namespace) -> int:
    from models.tasks import stylemix as sm

    modes = [m for m, on in (("--a/--b", args.a is not None or args.b is not None),
                             ("--content", args.content is not None),
                             ("--text", args.text is not None),
                             ("--pairs", args.pairs is not None)) if on]
    if len(modes) != 1:
        raise CLIError("give one of --a A --b B (a mix), --content A --style B (a character "
                       "in a style), --style B --text TEXT, or --pairs PAIRS.csv"
                       + (f"; got {' and '.join(modes)}" if modes else ""))
    reg = _registry()
    name = _resolve_model(reg, args.model)
    try:
        sm.style_model(reg, name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.pairs is None and args.out is None:
        raise CLIError("--out OUT.png is needed")
    spec = reg.info(name).style
    info = reg.info(name)
    mode = modes[0]
    common = {"psi": args.psi, "scale": args.scale}
    if mode == "--a/--b":
        if args.a is None or args.b is None:
            raise CLIError("a mix needs both --a and --b")
        if args.layers is not None:
            try:
                layers = ",".join(map(str, sm.parse_layers(args.layers, spec.layers)))
            except ValueError as exc:
                raise CLIError(str(exc)) from None
        elif args.preset is not None:
            from_b = sm.presets(spec).get(args.preset, ())
            if not from_b:
                raise CLIError(f"this model has no '{args.preset}' rows")
            layers = ",".join(map(str, from_b))
        else:
            raise CLIError("say which rows take B's codes: --layers 0-3 or --preset coarse")
        classes = info.classes
        if args.klass and not 0 <= args.klass < len(classes):
            raise CLIError(f"--class {args.klass}: {name} has "
                           + (f"classes 0-{len(classes) - 1}" if classes else "no classes"))
        (a, ia), (b, ib) = _end(args.a, "--a"), _end(args.b, "--b")
        recipe = _recipe("stylemix", {"mode": "mix", "a": a, "b": b, "layers": layers,
                                      "cutoff": args.cutoff, "seed": args.seed,
                                      "class": args.klass, **common}, info, {**ia, **ib})
    elif mode in ("--content", "--text"):
        if not args.style:
            raise CLIError(f"{mode} needs --style B.png [B2.png ...]")
        styles = {f"style-{k + 1}": p for k, p in enumerate(args.style)}
        for p in [*args.style, *([args.content] if mode == "--content" else [])]:
            if not Path(p).is_file():
                raise CLIError(f"{p}: no such picture")
        if mode == "--text":
            try:                                    # what it cannot draw, before any work
                reg.get(name).content_codes(args.text.replace(" ", ""))
            except ValueError as exc:
                raise CLIError(str(exc)) from None
            recipe = _recipe("stylemix", {"mode": "text", "text": args.text,
                                          "strength": args.strength, **common}, info, styles)
        else:
            recipe = _recipe("stylemix", {"mode": "in_style", "strength": args.strength,
                                          **common}, info,
                             {"content": args.content, **styles})
    else:
        if args.out_dir is None:
            raise CLIError("--pairs needs --out-dir DIR")
        rows = _pair_rows(args.pairs, ("content", "style"))
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for (content, style), out_name, where in rows:
            out = args.out_dir / out_name
            if not out.suffix:
                out = out.with_suffix(".png")
            recipe = _recipe("stylemix", {"mode": "in_style", "strength": args.strength,
                                          **common}, info,
                             {"content": content, "style-1": style})
            _run_recipe(reg, recipe, out, where)
            print(out)
        return 0
    _run_recipe(reg, recipe, args.out)
    print(args.out)
    return 0


def cmd_inpaint(args: argparse.Namespace) -> int:
    from models.tasks import inpaint as ip

    if (args.pairs is None) == (len(args.inputs) == 0):
        raise CLIError("give IN.png MASK.png --out OUT.png, or --pairs PAIRS.csv --out-dir "
                       "DIR")
    reg = _registry()
    from models.protocol import Capability

    name = _resolve_model(reg, str(args.model), "inpainting model", Capability.INPAINT,
                          config=args.config)
    info = reg.info(name)
    if args.frame_glyph and not ip.can_frame_glyph(reg, name):
        raise CLIError(f"--frame-glyph is for glyph models (gray pictures); '{name}' is a "
                       f"{info.family}")
    if Capability.PROMPT in info.capabilities:
        return _inpaint_prompted(args, reg, name)
    if args.prompt is not None:
        raise CLIError(f"model '{name}' takes no prompt (it is a {info.family})")
    try:
        ip.inpaint_model(reg, name)
        options = ip.InpaintOptions(
            sampler=args.sampler, steps=args.steps, repaint=args.repaint,
            guidance=1.0 if args.guidance is None else args.guidance,
            label=ip.parse_class(args.label, info.classes),
            seed=args.seed, feather=args.feather)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    params = {"sampler": options.sampler, "steps": options.total_steps,
              "repaint": options.repaint, "guidance": options.guidance,
              "label": options.label, "seed": options.seed, "feather": options.feather,
              "frame_glyph": bool(args.frame_glyph), "scale": int(args.scale),
              "config": str(args.config) if args.config else ""}

    def one(image: Path, mask: Path, out: Path, where: str = "") -> None:
        if not out.suffix:
            out = out.with_suffix(".png")
        for given in (image, mask):
            if not Path(given).is_file():
                raise CLIError(f"{where}{given}: no such file")
        # The run is its recipe, run by the one runner that 'replay' uses too.
        recipe = _recipe("inpaint", params, info, {"picture": image, "mask": mask})
        _run_recipe(reg, recipe, out, where, about=str(image))
        print(out)

    if args.pairs is None:
        if len(args.inputs) != 2:
            raise CLIError(f"give the picture and its mask (IN.png MASK.png), not "
                           f"{len(args.inputs)} file(s)")
        if args.out is None:
            raise CLIError("--out OUT.png is needed")
        if not args.out.parent.is_dir():
            raise CLIError(f"{args.out}: folder {args.out.parent} does not exist")
        one(args.inputs[0], args.inputs[1], args.out)
        return 0
    if args.out_dir is None:
        raise CLIError("--pairs needs --out-dir DIR")
    jobs = [(paths[0], paths[1], args.out_dir / out_name, where)
            for paths, out_name, where in _pair_rows(args.pairs, ("image", "mask"))]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for image, mask, out, where in jobs:
        one(image, mask, out, where)
    return 0


def _lora_list(items: list[str]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items:
        path, _, weight = item.rpartition(":") if ":" in Path(item).name else (item, "", "")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise CLIError(f"--lora {item}: the weight after ':' must be a number") from None
        if not Path(path).is_file():
            raise CLIError(f"--lora {path}: no such file")
        out.append((str(Path(path).resolve()), w))
    return tuple(out)


def _existing(paths: list[str], option: str) -> tuple[str, ...]:
    for path in paths:
        if not Path(path).is_file():
            raise CLIError(f"{option} {path}: no such file")
    return tuple(str(Path(p).resolve()) for p in paths)


def _prompt_options(args: argparse.Namespace, **extra):
    from models.tasks.generate import GenerateOptions

    try:
        return GenerateOptions(
            prompt=args.prompt or "", negative=args.negative, steps=args.steps or 25,
            guidance=7.5 if args.guidance is None else args.guidance,
            scheduler=args.scheduler, seed=args.seed, width=args.width, height=args.height,
            strength=args.strength, loras=_lora_list(args.lora), batch=args.batch,
            embeddings=_existing(args.embedding, "--embedding"), **extra)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _run_prompted(args: argparse.Namespace, reg, name: str, options,
                  inputs: dict[str, Path]) -> int:
    """Run one recipe per picture of the batch (seed, seed+1, ...), progress on a terminal;
    each PNG carries its ``parameters`` text and its recipe."""
    from dataclasses import replace

    from models.protocol import JobContext
    from models.tasks import runner

    if not args.out.parent.is_dir():
        raise CLIError(f"{args.out}: folder {args.out.parent} does not exist")
    for role, path in inputs.items():
        _read_rgb(path) if role == "picture" else _read_mask(path)    # said before work
    load = {"precision": args.precision, "offload": args.offload,
            "attention_slicing": args.attention_slicing}
    tty = sys.stderr.isatty()
    out = args.out if args.out.suffix else args.out.with_suffix(".png")
    n = options.batch
    for i in range(n):
        one = replace(options, seed=options.seed + i, batch=1)
        files = {**inputs, **{f"lora-{k + 1}": Path(p) for k, (p, _) in enumerate(one.loras)},
                 **{f"embedding-{k + 1}": Path(e) for k, e in enumerate(one.embeddings)}}
        params = {**runner.generate_params(one, load),
                  "config": str(args.config) if args.config else ""}
        recipe = _recipe("generate", params, reg.info(name), files)
        path = out if n == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")

        def progress(f: float, _preview, i: int = i) -> None:
            if tty:
                print(f"\r{name}: {(i + f) / n:4.0%}", end="", file=sys.stderr, flush=True)

        try:
            runner.run(reg, recipe, path, ctx=JobContext(progress))
        except (ValueError, MemoryError) as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:
            from models.files import os_error_words

            raise CLIError(os_error_words(exc, path)) from None
        if tty:
            print(file=sys.stderr)
        print(path)
    return 0


def _read_rgb(path: Path):
    """A picture as (H, W, 3) float32 in [0, 1], transparency over white."""
    from models.image.io import ImageLoadError
    from models.tasks.runner import read_rgb

    try:
        return read_rgb(path)
    except ImageLoadError as exc:
        raise CLIError(str(exc)) from None


def _read_mask(path: Path):
    from models.image.io import ImageLoadError, open_picture
    from models.tasks.inpaint import mask_from_picture

    try:
        return mask_from_picture(open_picture(path)[0])
    except ImageLoadError as exc:
        raise CLIError(str(exc)) from None


def _inpaint_prompted(args: argparse.Namespace, reg, name: str) -> int:
    if args.pairs is not None or len(args.inputs) != 2:
        raise CLIError("with a Stable Diffusion model give IN.png MASK.png --out OUT.png")
    if args.out is None:
        raise CLIError("--out OUT.png is needed")
    options = _prompt_options(args, mask_blur=args.mask_blur, only_masked=args.only_masked,
                              padding=args.padding)
    return _run_prompted(args, reg, name, options,
                         {"picture": args.inputs[0], "mask": args.inputs[1]})


def cmd_generate(args: argparse.Namespace) -> int:
    from models.protocol import Capability

    reg = _registry()
    name = _resolve_model(reg, str(args.model), "Stable Diffusion model", Capability.PROMPT,
                          config=args.config)
    if Capability.PROMPT not in reg.info(name).capabilities:
        raise CLIError(f"model '{name}' takes no prompt (it is a {reg.info(name).family}); "
                       "give a Stable Diffusion checkpoint")
    options = _prompt_options(args)
    inputs = {"picture": args.image} if args.image is not None else {}
    return _run_prompted(args, reg, name, options, inputs)


def _directions(model: str):
    from models.checkpoints import CheckpointError
    from models.image.directions import DirectionSet
    from models.protocol import Capability
    from models.train.directions import directions_path

    reg = _registry()
    name = _resolve_model(reg, model)
    if Capability.LATENT not in reg.info(name).capabilities:
        raise CLIError(f"model '{name}' has no latent space (it is a {reg.info(name).family})")
    path = directions_path(reg.info(name))
    if not path.is_file():
        raise CLIError(f"'{name}' has no directions yet; fit them with 'latent-studio train "
                       f"directions --model {model}'")
    try:
        return reg, name, DirectionSet.load(path)
    except (CheckpointError, KeyError, ValueError) as exc:
        raise CLIError(f"{path}: not a readable directions file ({exc})") from None


def _layer_range(text: str | None):
    if text is None:
        return "default"
    a, sep, b = text.partition("-")
    try:
        return (int(a), int(b) + 1) if sep else (int(a), int(a) + 1)
    except ValueError:
        raise CLIError(f"--layers takes A-B (rows, counted from 0), not '{text}'") from None


def cmd_directions(args: argparse.Namespace) -> int:
    reg, name, ds = _directions(args.model)
    if args.directions_command == "list":
        rows = [d.to_json() | {"measured": ds.card.get("measured", {}).get("steps", {}).get(
            d.name)} for d in ds.directions]
        if args.json:
            print(json.dumps({"model": name, "directions": rows,
                              "layer_shape": ds.layer_shape}, indent=2))
            return 0
        for d in ds.directions:
            extra = (f"layers {d.layers[0]}-{d.layers[1] - 1}  " if d.layers else "")
            extra += (f"{d.explained:.1%} of the variance" if d.kind == "principal"
                      else f"fitted to {d.label}")
            print(f"{d.name:12s} {d.kind:9s} {extra}")
        return 0
    for n in [args.direction, *args.hold]:
        if n not in ds.names:
            raise CLIError(f"no direction named '{n}' (directions: {', '.join(ds.names)})")
    if not -10 <= args.amount <= 10:
        raise CLIError(f"--amount must be between -10 and 10 steps, got {args.amount:g}")
    if not 1 <= args.scale <= 16:
        raise CLIError(f"--scale must be between 1 and 16, got {args.scale}")
    layers = _layer_range(args.layers)
    try:
        ds.vector(args.direction, layers, tuple(args.hold))      # checked before any reading
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not args.input.is_file():
        raise CLIError(f"{args.input}: no such file")
    params = {"direction": args.direction, "amount": args.amount,
              "layers": None if layers == "default" else list(layers),
              "hold": list(args.hold), "scale": args.scale}
    _run_recipe(reg, _recipe("directions", params, reg.info(name), {"picture": args.input}),
                args.out)
    print(args.out)
    return 0


COMMANDS = {
    "reconstruct": cmd_reconstruct,
    "interpolate": cmd_interpolate,
    "stylemix": cmd_stylemix,
    "inpaint": cmd_inpaint,
    "generate": cmd_generate,
    "directions": cmd_directions,
}
