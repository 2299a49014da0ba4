"""Commands that build: the model list, screenshots, data sets and training."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from studio.cli.common import (
    CLIError,
    _latent_model,
    _Parser,
    _registry,
    _resolve_model,
    events_log,
)


def add_parsers(sub) -> None:
    """This group's commands on the top parser's subparsers."""
    models = sub.add_parser("models", help="list the registered models")
    msub = models.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    ml = msub.add_parser("list", help="every backend, its capabilities and source")
    ml.add_argument("--json", action="store_true", help="machine-readable output")
    ml.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                    help="also register this checkpoint (repeatable)")

    sh = sub.add_parser("screenshot", help="render the main window offscreen to a PNG")
    sh.add_argument("out", type=Path, metavar="OUT.png")
    sh.add_argument("--panel", help="panel to show (e.g. latent, models)")
    sh.add_argument("--size", type=_size, default=(1280, 820), metavar="WxH")

    data = sub.add_parser("data", help="build the data sets the models train on")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    db = dsub.add_parser("build", help="render a data set into the cache")
    db.add_argument("name", choices=("glyphs", "emoji", "speech"))
    db.add_argument("--out", type=Path, help="output .npz (default: the data cache)")
    db.add_argument("--seed", type=int, default=0)
    dp = dsub.add_parser("prepare", help="your own pictures as a training set: what is kept, "
                         "what is dropped and why, cached by content")
    dp.add_argument("sources", nargs="+", type=Path, metavar="FOLDER|FILE",
                    help="folders (read recursively) and picture files")
    dp.add_argument("--size", type=int, choices=(64, 128, 256), default=64)
    dp.add_argument("--fit", choices=("crop", "pad"), default="crop",
                    help="centre square crop, or the whole picture padded")
    dp.add_argument("--gray", action="store_true", help="one channel instead of RGB")
    dp.add_argument("--background", default="#ffffff", metavar="#RRGGBB",
                    help="under transparency and padding")
    dp.add_argument("--flips", action="store_true", help="add the training pictures mirrored")
    dp.add_argument("--seed", type=int, default=0, help="which pictures are held out")
    dp.add_argument("--json", action="store_true", help="machine-readable output")

    tr = sub.add_parser("train", help="train a model and write weights + model card")
    tsub = tr.add_subparsers(dest="train_command", required=True, parser_class=_Parser)
    tv = tsub.add_parser("vae", help="train a VAE on a built data set or on your pictures")
    tv_data = tv.add_mutually_exclusive_group(required=True)
    tv_data.add_argument("--data", choices=("glyphs", "emoji"))
    tv_data.add_argument("--images", nargs="+", type=Path, metavar="FOLDER|FILE",
                         help="your own pictures (folders read recursively; see 'data "
                         "prepare' for what is kept)")
    _picture_options(tv)
    tv.add_argument("--minutes", type=float, default=0.0,
                    help="a time budget, turned into a number of steps after the first few "
                    "(0: --max-steps or --epochs decide)")
    tv.add_argument("--max-steps", type=int, default=0, help="stop after this many steps")
    tv.add_argument("--epochs", type=int, default=20,
                    help="the length when neither --minutes nor --max-steps is given")
    tv.add_argument("--batch", type=int, default=128)
    tv.add_argument("--lr", type=float, default=2e-3)
    tv.add_argument("--beta", type=float, default=1.0, help="KL weight")
    tv.add_argument("--anneal-epochs", type=int, default=3,
                    help="epochs over which the KL weight ramps up from 0")
    tv.add_argument("--latent-dim", type=int, default=32)
    tv.add_argument("--width", type=int, default=32)
    tv.add_argument("--depth", type=int, default=0,
                    help="extra 3x3 convolutions at each level (a deeper network)")
    tv.add_argument("--augment", type=int, default=0, metavar="PIXELS",
                    help="each batch: half mirrored, each picture shifted by up to PIXELS "
                    "(less overfitting on a few thousand pictures; 0: none)")
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--init", default="", metavar="MODEL",
                    help="fine-tune this VAE (a name or a .safetensors) instead of starting "
                    "from scratch")
    tv.add_argument("--snapshot-minutes", type=float, default=5.0,
                    help="write a snapshot (weights, card, samples) this often; 0: never")
    tv.add_argument("--resume", type=Path, metavar="DIR",
                    help="continue the run in DIR (or from one of its snapshots)")
    tv.add_argument("--fid", action="store_true",
                    help="also measure the FID of samples (and of PCA samples) against the "
                    "held-out pictures (InceptionV3; a few minutes on a CPU)")
    tv.add_argument("--events", action="store_true",
                    help="one JSON line per event on stdout instead of a progress bar")
    tv.add_argument("--out", type=Path, help="weights file, or a folder for the model and "
                    "its snapshots (default: resources/weights/vae-DATA.safetensors)")

    tl = tsub.add_parser("lora", help="a DreamBooth-style LoRA of a Stable Diffusion model "
                         "on a few pictures of one thing")
    tl.add_argument("--model", required=True, metavar="NAME|FILE",
                    help="the Stable Diffusion model (a name, a folder or a checkpoint file)")
    tl.add_argument("--images", nargs="+", required=True, type=Path, metavar="FOLDER|FILE",
                    help="5 to 30 pictures of the thing (duplicates are dropped)")
    tl.add_argument("--prompt", required=True, help="the instance prompt, e.g. 'a photo of "
                    "sks cat'")
    tl.add_argument("--class-prompt", default="", help="prior preservation: e.g. 'a photo "
                    "of a cat'")
    tl.add_argument("--class-images", type=int, default=0,
                    help="prior preservation: this many pictures of the class prompt, made "
                    "by the model first")
    tl.add_argument("--prior-weight", type=float, default=1.0)
    tl.add_argument("--rank", type=int, default=4)
    tl.add_argument("--lr", type=float, default=1e-4)
    tl.add_argument("--steps", type=int, default=400)
    tl.add_argument("--minutes", type=float, default=0.0, help="a time budget (0: none)")
    tl.add_argument("--size", type=int, default=0, help="training size (0: the model's)")
    tl.add_argument("--seed", type=int, default=0)
    tl.add_argument("--gradient-checkpointing", action="store_true",
                    help="less memory, more time (a GPU's option)")
    tl.add_argument("--mixed-precision", choices=("no", "fp16", "bf16"), default="no",
                    help="a GPU's option")
    tl.add_argument("--events", action="store_true",
                    help="one JSON line per event on stdout instead of a progress bar")
    tl.add_argument("--out", required=True, type=Path, metavar="LORA.safetensors")

    tc = tsub.add_parser("classifier", help="train the glyph classifier used for metrics")
    tc.add_argument("--epochs", type=int, default=3)
    tc.add_argument("--seed", type=int, default=0)
    tc.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                    "glyph-classifier.safetensors)")

    tvo = tsub.add_parser("vocoder", help="train the neural vocoder on the speech corpus")
    tvo.add_argument("--minutes", type=float, default=50.0, help="training time budget")
    tvo.add_argument("--seed", type=int, default=0)
    tvo.add_argument("--mel-weight", type=float, default=3.0, help="weight of the mel L1 loss")
    tvo.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    tvo.add_argument("--init", default="", metavar="FILE",
                     help="continue training from these vocoder weights")
    tvo.add_argument("--adv-weight", type=float, default=0.0,
                     help="weight of the adversarial + feature-matching losses (0: none)")
    tvo.add_argument("--fm-weight", type=float, default=2.0,
                     help="feature matching, relative to the adversarial loss")
    tvo.add_argument("--batch", type=int, default=16, help="segments per step")
    tvo.add_argument("--segment", type=float, default=1.0, help="segment length in seconds")
    tvo.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                     "vocoder-speech.safetensors)")

    tsg = tsub.add_parser("stylegen", help="train the style generator (Style Mixer)")
    tsg_data = tsg.add_mutually_exclusive_group()
    tsg_data.add_argument("--data", choices=("glyphs", "emoji"), default="glyphs")
    tsg_data.add_argument("--images", nargs="+", type=Path, metavar="FOLDER|FILE",
                          help="your own pictures (see 'data prepare'); needs --out")
    _picture_options(tsg)
    tsg.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    tsg.add_argument("--batch", type=int, default=64)
    tsg.add_argument("--adv-weight", type=float, default=0.0,
                     help="weight of the adversarial loss (0: none)")
    tsg.add_argument("--max-steps", type=int, default=0, help="stop after this many steps")
    tsg.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    tsg.add_argument("--init", default="", metavar="FILE",
                     help="continue training from these style-generator weights")
    tsg.add_argument("--seed", type=int, default=0)
    tsg.add_argument("--no-measure", action="store_true",
                     help="skip the test-split measurements (run them later with --measure)")
    tsg.add_argument("--refit", type=Path, metavar="WEIGHTS",
                     help="only fit the per-character codes of these trained weights again")
    tsg.add_argument("--measure", type=Path, metavar="WEIGHTS",
                     help="only measure these trained weights and write the figures in "
                     "their card")
    tsg.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                     "stylegen-DATA.safetensors)")

    tdf = tsub.add_parser("diffusion", help="train the latent diffusion model (inpainting)")
    tdf_data = tdf.add_mutually_exclusive_group()
    tdf_data.add_argument("--data", choices=("glyphs", "emoji"), default="glyphs")
    tdf_data.add_argument("--images", nargs="+", type=Path, metavar="FOLDER|FILE",
                          help="your own pictures (see 'data prepare'); needs --out")
    _picture_options(tdf)
    tdf.add_argument("--ae-minutes", type=float, default=10.0,
                     help="time budget of the autoencoder stage")
    tdf.add_argument("--minutes", type=float, default=45.0, help="time budget of the U-Net")
    tdf.add_argument("--batch", type=int, default=64)
    tdf.add_argument("--max-steps", type=int, default=0, help="stop each stage after this")
    tdf.add_argument("--seed", type=int, default=0)
    tdf.add_argument("--no-measure", action="store_true",
                     help="skip the test-split measurements (run them later with --measure)")
    tdf.add_argument("--measure", type=Path, metavar="WEIGHTS",
                     help="only measure these trained weights (inpainting against OpenCV's, "
                     "guidance, FID) and write the figures in their card")
    tdf.add_argument("--cases", type=int, default=1000,
                     help="test glyphs per mask kind in the measurements")
    tdf.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                     "diffusion-DATA.safetensors)")

    tdi = tsub.add_parser("directions", help="fit a latent model's named and principal "
                          "directions (bold, italic, wide, serif, monospace; pc1..pc8)")
    tdi.add_argument("--model", required=True, metavar="NAME|FILE")
    tdi.add_argument("--train", type=int, default=12000, help="training glyphs to encode")
    tdi.add_argument("--test", type=int, default=400, help="test glyphs to measure on")
    tdi.add_argument("--seed", type=int, default=0)
    tdi.add_argument("--out", type=Path, help="directions file (default: resources/directions/"
                     "NAME.safetensors, or beside a checkpoint)")

    tat = tsub.add_parser("attributes", help="train the speech attribute model (AnCoGen-style: "
                          "pitch, loudness, SNR, C50)")
    tat.add_argument("--minutes", type=float, default=40.0, help="training time budget")
    tat.add_argument("--clips", type=int, default=900, help="training utterances to label")
    tat.add_argument("--seed", type=int, default=0)
    tat.add_argument("--init", type=Path, default=None, metavar="FILE",
                     help="start from this attribute model's weights (its shared layers)")
    tat.add_argument("--content-dims", type=int, default=20,
                     help="envelope cepstra the model regenerates from (0: analysis only)")
    tat.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                     "attributes-speech.safetensors)")



def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 1280x800, not '{text}'") from None
    if not (100 <= w <= 8000 and 100 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"size {w}x{h} is out of range (100..8000)")
    return w, h


def cmd_models(args: argparse.Namespace) -> int:
    reg = _registry(args.checkpoint)
    infos = reg.infos()
    if args.json:
        print(json.dumps([i.to_json() for i in infos], indent=2))
        return 0
    if not infos:
        print("no models registered")
    for i in infos:
        shape = "x".join(map(str, i.image_shape)) or ("any size" if i.latent_size == 0 and
                                                      "any-size" in i.capabilities.names else "")
        what = f"latent {i.latent_size}" if i.latent_size or not i.mel else (
            f"{i.mel.sample_rate} Hz, {i.mel.n_mels} mels, hop {i.mel.hop}")
        print(f"{i.name:28s} {i.family:8s} {','.join(i.capabilities.names):18s} "
              f"{i.source:10s} {shape:9s} {what}")
        if i.source == "checkpoint" and i.description:
            print(f"    {i.description}")
    for problem in reg.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_screenshot(args: argparse.Namespace) -> int:
    if args.out.suffix.lower() != ".png":
        raise CLIError(f"{args.out}: the screenshot is written as PNG; name it .png")
    if not args.out.parent.exists():
        raise CLIError(f"{args.out.parent}: no such folder")
    from studio.app import MainWindow, ensure_app, offscreen_platform

    os.environ["QT_QPA_PLATFORM"] = offscreen_platform(max(1920, args.size[0]),
                                                       max(1200, args.size[1]))
    os.environ["LATENT_STUDIO_NO_PROMPT"] = "1"

    app = ensure_app()
    win = MainWindow()
    try:
        if args.panel:
            win.show_panel(args.panel)
        win.resize(*args.size)
        win.show()
        app.processEvents()
        win.jobs.wait_until_idle(60)
        app.processEvents()
        from models.files import write_with

        def grab(tmp: Path) -> None:                  # whole or not at all
            if not win.grab().save(str(tmp), "PNG"):
                raise OSError(f"{args.out}: could not write the picture")

        try:
            write_with(args.out, grab)
        except OSError as exc:
            from models.files import os_error_words

            raise CLIError(os_error_words(exc, args.out) if exc.errno else
                           f"{args.out}: could not write the PNG") from None
    finally:
        win.close()
    print(args.out)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "prepare":
        return _prepare_pictures(args)
    from models.data import build_dataset

    print(json.dumps(build_dataset(args.name, args.out, seed=args.seed)))
    return 0


def _user_pictures(args: argparse.Namespace):
    """A user's pictures prepared for training: (the cached set, the card's data part)."""
    from dataclasses import asdict

    import numpy as np

    from models.data import user_set as us

    try:
        options = us.PrepareOptions(size=args.size, fit=args.fit,
                                    color="gray" if args.gray else "rgb", flips=args.flips,
                                    seed=args.seed)
        scanned = us.scan(args.images, options.min_side)
        path = us.prepare(scanned, options)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    split = np.load(path)["split"]
    card = {"name": "user pictures", "sources": [str(p.resolve()) for p in args.images],
            "prepared": str(path), "content_key": scanned.key(),
            "options": asdict(options), **scanned.summary(),
            "images": {k: int((split == k).sum()) for k in ("train", "val", "test")},
            "how": "latent-studio data prepare: kept pictures, fitted to the size, 10 % held "
                   "out (seeded) for the test metrics"}
    if scanned.dropped:
        why = card.get("why", {})
        print(f"dropped {len(scanned.dropped)} of {len(scanned.dropped) + len(scanned.kept)} "
              f"pictures ({', '.join(f'{n} {k}' for k, n in why.items())}); 'latent-studio "
              "data prepare --json' lists each", file=sys.stderr)
    return path, card


def _background(text: str) -> tuple[int, int, int]:
    t = text.lstrip("#")
    if len(t) != 6 or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise CLIError(f"--background takes #RRGGBB, not '{text}'")
    return int(t[0:2], 16), int(t[2:4], 16), int(t[4:6], 16)


def _prepare_pictures(args: argparse.Namespace) -> int:
    """Scan, say what is kept and dropped, prepare and cache the set."""
    import numpy as np

    from models.data import user_set as us

    try:
        options = us.PrepareOptions(size=args.size, fit=args.fit,
                                    color="gray" if args.gray else "rgb",
                                    background=_background(args.background),
                                    flips=args.flips, seed=args.seed)
        scanned = us.scan(args.sources, options.min_side)
        path = us.prepare(scanned, options)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    split = np.load(path)["split"]
    summary = {**scanned.summary(), "path": str(path),
               "split": {k: int((split == k).sum()) for k in ("train", "val", "test")},
               "dropped_files": [{"path": d.path, "why": d.why} for d in scanned.dropped]}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"{summary['pictures']} pictures kept "
          f"(train {summary['split']['train']}, val {summary['split']['val']}, "
          f"held out {summary['split']['test']}); {summary['dropped']} dropped")
    for d in scanned.dropped:
        print(f"  dropped {d.path}: {d.why}")
    print(path)
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command as typed (quoted where needed), for a model card."""
    import shlex

    return "latent-studio " + shlex.join(getattr(args, "argv", sys.argv[1:]))


def _picture_options(parser: argparse.ArgumentParser) -> None:
    """How --images are prepared (see 'data prepare')."""
    parser.add_argument("--size", type=int, choices=(64, 128, 256), default=64,
                        help="with --images: the pictures' size")
    parser.add_argument("--gray", action="store_true", help="with --images: one channel")
    parser.add_argument("--fit", choices=("crop", "pad"), default="crop",
                        help="with --images: centre crop, or the whole picture padded")
    parser.add_argument("--flips", action="store_true",
                        help="with --images: add the training pictures mirrored")


def _images_or_data(args: argparse.Namespace, family: str):
    """(data name, prepared path or None, data card or None, out, command) of a training
    on a built data set (--data) or on your pictures (--images, which needs --out)."""
    from models.registry import WEIGHTS_DIR

    command = command_line(args)
    if not args.images:
        return (args.data, None, None,
                args.out or WEIGHTS_DIR / f"{family}-{args.data}.safetensors", command)
    if args.out is None:
        raise CLIError("--images needs --out MODEL.safetensors (the shipped weights stay)")
    path, card = _user_pictures(args)
    return "user", path, card, args.out, command


def cmd_train(args: argparse.Namespace) -> int:
    from models.registry import WEIGHTS_DIR

    if args.train_command == "vocoder":
        from models.train import vocoder

        out = args.out or WEIGHTS_DIR / "vocoder-speech.safetensors"
        card = vocoder.train(out, vocoder.TrainConfig(minutes=args.minutes, seed=args.seed,
                                                        mel_weight=args.mel_weight,
                                                        lr=args.lr,
                                                        init=args.init,
                                                        adv_weight=args.adv_weight,
                                                        fm_weight=args.fm_weight,
                                                        batch=args.batch,
                                                        segment=args.segment),
                             log=lambda line: print(line, flush=True))
        print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
        return 0
    if args.train_command == "stylegen":
        from models.train import stylegen

        if args.refit is not None:
            stylegen.refit(args.refit, log=lambda line: print(line, flush=True))
            return 0
        if args.measure is not None:
            card = stylegen.measure(args.measure, log=lambda line: print(line, flush=True))
            print(json.dumps({"weights": str(args.measure), "metrics": card["metrics"]}))
            return 0
        data, path, data_card, out, command = _images_or_data(args, "stylegen")
        cfg = stylegen.TrainConfig(data=data, minutes=args.minutes, batch=args.batch,
                                   adv_weight=args.adv_weight, max_steps=args.max_steps,
                                   lr=args.lr, init=args.init, seed=args.seed)
        card = stylegen.train(cfg, out, data_path=path,
                              log=lambda line: print(line, flush=True),
                              measure_after=not args.no_measure and path is None,
                              data_card=data_card, command=command)
        print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
        return 0
    if args.train_command == "attributes":
        from models.train import ancogen

        out = args.out or WEIGHTS_DIR / "attributes-speech.safetensors"
        try:
            if args.init is not None and not args.init.is_file():
                raise CLIError(f"{args.init}: no such weights file")
            card = ancogen.train(out, ancogen.TrainConfig(minutes=args.minutes, seed=args.seed,
                                                          clips=args.clips,
                                                          init=str(args.init or ""),
                                                          content_dims=args.content_dims),
                                 log=lambda line: print(line, flush=True))
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from None
        print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
        return 0
    if args.train_command == "directions":
        from models.train.directions import fit_model

        reg, name = _latent_model(args.model)
        if args.train < 100 or args.test < 10:
            raise CLIError("--train takes 100 or more glyphs, --test 10 or more")
        try:
            card = fit_model(name, args.out, n_train=args.train, n_test=args.test,
                             seed=args.seed, registry=reg,
                             log=lambda line: print(line, flush=True))
        except (FileNotFoundError, ValueError) as exc:
            raise CLIError(str(exc)) from None
        print(json.dumps({"metrics": card["metrics"]}))
        return 0
    if args.train_command == "diffusion":
        from models.train import diffusion

        log = lambda line: print(line, flush=True)  # noqa: E731
        if args.measure is not None:
            card = diffusion.measure(args.measure, cases=args.cases, log=log)
            print(json.dumps({"weights": str(args.measure), "metrics": card["metrics"]}))
            return 0
        data, path, data_card, out, command = _images_or_data(args, "diffusion")
        card = diffusion.train(diffusion.TrainConfig(
            data=data, ae_minutes=args.ae_minutes, minutes=args.minutes,
            batch=args.batch, max_steps=args.max_steps, seed=args.seed), out, data_path=path,
            log=log, data_card=data_card, command=command)
        if not args.no_measure and data == "glyphs":
            card = diffusion.measure(out, cases=args.cases, log=log)
        print(json.dumps({"weights": str(out), "training": {
            k: card["training"][k] for k in ("autoencoder_steps", "unet_steps")},
            "metrics": card["metrics"]}))
        return 0
    if args.train_command == "lora":
        return _train_lora(args)
    if args.train_command == "classifier":
        from models.train import classifier

        out = args.out or WEIGHTS_DIR / "glyph-classifier.safetensors"
        card = classifier.train(out, epochs=args.epochs, seed=args.seed,
                                log=lambda line: print(line, flush=True))
        print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
        return 0
    return _train_vae(args)


def _train_vae(args: argparse.Namespace) -> int:
    from models.protocol import Cancelled
    from models.train.vae import TrainConfig, train

    data_path = data_card = None
    command = command_line(args)
    if args.images:
        if args.out is None:
            raise CLIError("--images needs --out MODEL.safetensors or --out FOLDER (the "
                           "shipped weights stay)")
        data_path, data_card = _user_pictures(args)
    init = ""
    if args.init and Path(args.init).expanduser().is_file():
        init = str(Path(args.init).expanduser())
    elif args.init:
        reg = _registry()
        if args.init not in {i.name for i in reg.infos()}:
            raise CLIError(f"--init: no model named '{args.init}' and no such file")
        init = str(reg.info(args.init).path)
    cfg = TrainConfig(data=args.data or "user", epochs=args.epochs, batch=args.batch,
                      lr=args.lr, beta=args.beta, anneal_epochs=args.anneal_epochs,
                      latent_dim=args.latent_dim, width=args.width, depth=args.depth,
                      augment=args.augment,
                      seed=args.seed, minutes=args.minutes, max_steps=args.max_steps,
                      snapshot_minutes=args.snapshot_minutes, init=init)
    out, run_dir = _run_paths(args.out, "vae", args.data or "user")
    log = events_log(args.events)
    ctx = _stop_on_sigterm()
    try:
        card = train(cfg, out, data_path, ctx=ctx, log=log, data_card=data_card,
                     command=command, run_dir=run_dir, resume=args.resume,
                     measure_fid=args.fid)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    except Cancelled:
        log.close()
        where = f"; resume with --resume {run_dir}" if run_dir is not None else ""
        print(f"latent-studio: stopped by request{where}", file=sys.stderr)
        return 3
    finally:
        log.close()
    print(json.dumps({"weights": str(out), "metrics": card["metrics"]}), flush=True)
    return 0


def _train_lora(args: argparse.Namespace) -> int:
    from models.data import user_set as us
    from models.image.sd import FAMILY
    from models.protocol import Capability
    from models.tasks.runner import model_entry
    from models.train.lora import LoraConfig, train_lora

    if args.out.suffix != ".safetensors":
        raise CLIError("--out must name a .safetensors file")
    try:
        scanned = us.scan(args.images)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not scanned.kept:
        raise CLIError("no usable pictures in " + ", ".join(map(str, args.images)))
    reg = _registry()
    name = _resolve_model(reg, args.model, "Stable Diffusion model", Capability.PROMPT)
    info = reg.info(name)
    if info.family != FAMILY:
        raise CLIError(f"{name} is a {info.family} model; a LoRA needs a Stable Diffusion "
                       "model")
    backend = reg.get(name)
    base = model_entry(reg, name)
    cfg = LoraConfig(prompt=args.prompt, class_prompt=args.class_prompt,
                     class_images=args.class_images, prior_weight=args.prior_weight,
                     rank=args.rank, lr=args.lr, steps=args.steps, minutes=args.minutes,
                     size=args.size, seed=args.seed,
                     gradient_checkpointing=args.gradient_checkpointing,
                     mixed_precision=args.mixed_precision)
    data = {"sources": [str(p.resolve()) for p in args.images],
            "pictures": [p.path for p in scanned.kept], "content_key": scanned.key(),
            **scanned.summary()}
    command = command_line(args)
    log = events_log(args.events)
    try:
        card = train_lora(backend.pipe, base, [p.path for p in scanned.kept], cfg, args.out,
                          ctx=_stop_on_sigterm(), log=log, data_card=data, command=command)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    finally:
        log.close()
    print(json.dumps({"lora": str(args.out), "metrics": card["metrics"]}), flush=True)
    return 0


def _stop_on_sigterm():
    """A job context that SIGTERM cancels: the training writes a snapshot of its last whole
    step and ends (the Train panel's Pause and Stop)."""
    import signal

    from models.protocol import JobContext

    ctx = JobContext()
    signal.signal(signal.SIGTERM, lambda *_: ctx.cancel())
    return ctx


def _run_paths(out: Path | None, family: str, data: str) -> tuple[Path, Path | None]:
    """``--out``: a weights file (snapshots beside it in NAME.run/) or a folder (the
    weights as FOLDER/FAMILY-FOLDER.safetensors, snapshots in FOLDER/snapshots)."""
    from models.registry import WEIGHTS_DIR

    if out is None:
        return WEIGHTS_DIR / f"{family}-{data}.safetensors", None
    if out.suffix == ".safetensors":
        return out, out.with_suffix(".run")
    return out / f"{family}-{out.resolve().name}.safetensors", out / "snapshots"


COMMANDS = {
    "models": cmd_models,
    "screenshot": cmd_screenshot,
    "data": cmd_data,
    "train": cmd_train,
}
