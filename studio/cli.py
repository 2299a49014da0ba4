"""The headless commands: the same backends as the window, no screen needed.

Bad arguments or unreadable files print one line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from models import __version__

EXIT_USAGE = 2


class CLIError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, e.g. 1280x800, not '{text}'") from None
    if not (100 <= w <= 8000 and 100 <= h <= 8000):
        raise argparse.ArgumentTypeError(f"size {w}x{h} is out of range (100..8000)")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latent-studio", description="Explore and judge generative models. "
                "With no command, opens the studio window.")
    p.add_argument("--version", action="version", version=f"latent-studio {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

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
    db.add_argument("name", choices=("glyphs", "emoji"))
    db.add_argument("--out", type=Path, help="output .npz (default: the data cache)")
    db.add_argument("--seed", type=int, default=0)

    tr = sub.add_parser("train", help="train a model and write weights + model card")
    tsub = tr.add_subparsers(dest="train_command", required=True, parser_class=_Parser)
    tv = tsub.add_parser("vae", help="train a VAE on a built data set")
    tv.add_argument("--data", choices=("glyphs", "emoji"), required=True)
    tv.add_argument("--epochs", type=int, default=20)
    tv.add_argument("--batch", type=int, default=128)
    tv.add_argument("--lr", type=float, default=2e-3)
    tv.add_argument("--beta", type=float, default=1.0, help="KL weight")
    tv.add_argument("--anneal-epochs", type=int, default=3,
                    help="epochs over which the KL weight ramps up from 0")
    tv.add_argument("--latent-dim", type=int, default=32)
    tv.add_argument("--width", type=int, default=32)
    tv.add_argument("--seed", type=int, default=0)
    tv.add_argument("--out", type=Path, help="weights file (default: resources/weights/"
                    "vae-DATA.safetensors)")

    rc = sub.add_parser("reconstruct", help="encode then decode images with a latent model")
    rc.add_argument("--model", required=True)
    rc.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    g = rc.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", type=Path, help="output picture (one input)")
    g.add_argument("--out-dir", type=Path, help="folder; each output keeps its input's name")

    ip = sub.add_parser("interpolate", help="decode a path between two images")
    ip.add_argument("--model", required=True)
    ip.add_argument("a", type=Path, metavar="A")
    ip.add_argument("b", type=Path, metavar="B")
    ip.add_argument("--steps", type=int, default=8)
    ip.add_argument("--mode", choices=("linear", "slerp"), default="slerp")
    ip.add_argument("--out", type=Path, required=True, help="strip.png or anim.gif")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        from studio.app import run_gui

        return run_gui()
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("latent-studio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure is one line; LATENT_STUDIO_DEBUG shows more
        if os.environ.get("LATENT_STUDIO_DEBUG"):
            raise
        from studio.jobs import describe_error

        print(f"latent-studio: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE


def _registry(checkpoints: list[Path] = ()):
    from models.registry import default_registry

    reg = default_registry()
    for path in checkpoints:
        reg.add_checkpoint(path)
    return reg


def cmd_models(args: argparse.Namespace) -> int:
    reg = _registry(args.checkpoint)
    infos = reg.infos()
    if args.json:
        print(json.dumps([i.to_json() for i in infos], indent=2))
        return 0
    if not infos:
        print("no models registered")
    for i in infos:
        shape = "x".join(map(str, i.image_shape))
        print(f"{i.name:28s} {i.family:8s} {','.join(i.capabilities.names):18s} "
              f"{i.source:10s} {shape:9s} latent {i.latent_size}")
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
        if not win.grab().save(str(args.out)):
            raise CLIError(f"{args.out}: could not write the PNG")
    finally:
        win.close()
    print(args.out)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from models.data import cache_dir

    out = args.out or cache_dir() / f"{args.name}.npz"
    if args.name == "glyphs":
        from models.data import glyphs as builder
    else:
        from models.data import emoji as builder
    print(json.dumps(builder.build(out, seed=args.seed)))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from models.registry import WEIGHTS_DIR
    from models.train.vae import TrainConfig, train

    cfg = TrainConfig(data=args.data, epochs=args.epochs, batch=args.batch, lr=args.lr,
                      beta=args.beta, anneal_epochs=args.anneal_epochs,
                      latent_dim=args.latent_dim, width=args.width, seed=args.seed)
    out = args.out or WEIGHTS_DIR / f"vae-{args.data}.safetensors"
    card = train(cfg, out, log=lambda line: print(line, flush=True))
    print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
    return 0


def _latent_backend(name: str):
    from models.protocol import Capability

    reg = _registry()
    info = reg.info(name)
    if Capability.LATENT not in info.capabilities:
        raise CLIError(f"model '{name}' has no latent space (it is a {info.family})")
    return reg.get(name)


def _load_images(backend, paths: list[Path]):
    import numpy as np

    from models.image.io import load_image

    arrays = []
    for p in paths:
        arr, note = load_image(p, backend.info.image_shape)
        if note:
            print(f"{p}: {note}", file=sys.stderr)
        arrays.append(arr)
    return np.stack(arrays)


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from models.image.io import save_image

    if args.out is not None and len(args.inputs) > 1:
        raise CLIError(f"{len(args.inputs)} inputs need --out-dir, not --out")
    backend = _latent_backend(args.model)
    images = _load_images(backend, args.inputs)
    recon = backend.decode(backend.encode(images))
    if args.out is not None:
        save_image(recon[0], args.out)
        print(args.out)
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in args.inputs]
    if len(set(names)) != len(names):
        raise CLIError("two inputs share a file name; --out-dir keeps names, so rename one")
    for p, img in zip(args.inputs, recon):
        out = args.out_dir / p.name
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif",
                                      ".tiff", ".gif"):
            out = out.with_suffix(".png")
        save_image(img, out)
        print(out)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from models.image.io import save_gif, save_strip
    from models.image.latent_ops import path

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise CLIError(f"{args.out}: write a strip (.png) or an animation (.gif)")
    if not 2 <= args.steps <= 512:
        raise CLIError(f"--steps must be between 2 and 512, got {args.steps}")
    backend = _latent_backend(args.model)
    z = backend.encode(_load_images(backend, [args.a, args.b]))
    frames = backend.decode(path(z[0], z[1], args.steps, args.mode))
    (save_gif if suffix == ".gif" else save_strip)(frames, args.out)
    print(args.out)
    return 0


_COMMANDS = {
    "models": cmd_models,
    "screenshot": cmd_screenshot,
    "data": cmd_data,
    "train": cmd_train,
    "reconstruct": cmd_reconstruct,
    "interpolate": cmd_interpolate,
}
