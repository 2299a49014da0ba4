"""Recipe commands: print a recipe, replay it, sweep it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli.common import (
    CLIError,
    _registry,
    _run_recipe,
)


def add_parsers(sub) -> None:
    """This group's commands on the top parser's subparsers."""
    rp = sub.add_parser("recipe", help="print how an output was made (its recipe) as JSON")
    rp.add_argument("output", type=Path, metavar="OUT")
    ry = sub.add_parser("replay", help="make an output again from its recipe")
    ry.add_argument("source", type=Path, metavar="OUT_OR_RECIPE")
    ry.add_argument("--out", type=Path, help="where to write (default: NAME-replay beside it)")
    ry.add_argument("--check", action="store_true",
                    help="compare with the output given: print identical or different "
                    "(exit 0 or 1)")
    ry.add_argument("--allow-changed", action="store_true",
                    help="run even when the model or an input is missing or has changed")
    sw = sub.add_parser("sweep", help="run an output's recipe with one to three settings "
                        "swept: a labelled grid or a folder of cells")
    sw.add_argument("source", type=Path, metavar="OUT_OR_RECIPE")
    for axis in ("x", "y", "z"):
        sw.add_argument(f"--{axis}", metavar="NAME=V1,V2,...", required=axis == "x",
                        help=f"the {axis.upper()} axis: a setting as the command names it "
                        "(seed, psi, guidance, steps, layers, vocoder, ...) and its values")
    sw.add_argument("--out", type=Path, required=True, metavar="GRID.png|DIR",
                    help="one labelled grid picture, or a folder with each cell as its own "
                         "file and recipe")
    sw.add_argument("--allow-changed", action="store_true",
                    help="run even when the model or an input is missing or has changed")


def cmd_recipe(args: argparse.Namespace) -> int:
    """The recipe of an output, as JSON (itself a valid RECIPE.json: big arrays stay in the
    output's sidecar .npz, which it names; nothing is written)."""
    from models.recipe import RecipeError, embedded_text, read_recipe

    try:
        read_recipe(args.output)                  # every check, with its message
        text = (args.output.read_text(encoding="utf-8")
                if args.output.suffix.lower() == ".json" else embedded_text(args.output))
    except RecipeError as exc:
        raise CLIError(str(exc)) from None
    print(json.dumps(json.loads(text), indent=2))
    return 0


def _read_and_check(src: Path, allow_changed: bool):
    """The recipe of an output or a RECIPE.json, its files checked (a changed or missing one
    refused unless ``allow_changed``, then warned of)."""
    from models.recipe import RecipeError, read_recipe

    try:
        recipe = read_recipe(src)
    except RecipeError as exc:
        raise CLIError(str(exc)) from None
    problems = recipe.problems()
    if problems and not allow_changed:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CLIError(f"{problems[0]}{more}; --allow-changed runs it anyway")
    for p in problems:
        print(f"latent-studio: warning: {p}", file=sys.stderr)
    return recipe


def cmd_replay(args: argparse.Namespace) -> int:
    """Run an output's recipe (or a RECIPE.json) again; --check compares the bytes."""
    import tempfile

    from models.tasks import runner

    src = args.source
    recipe = _read_and_check(src, args.allow_changed)
    is_output = src.suffix.lower() != ".json"
    if args.check and not is_output:
        raise CLIError("--check compares with an output file: give the output, not a recipe")
    scratch = None
    out = args.out
    if out is None:
        if args.check:
            scratch = tempfile.TemporaryDirectory(prefix="replay-")
            out = Path(scratch.name) / src.name
        else:
            suffix = src.suffix if is_output else runner.WRITES.get(recipe.task, (".png",))[0]
            out = src.with_name(f"{src.stem}-replay{suffix}")
    try:
        _run_recipe(_registry(), recipe, out)
        if not args.check:
            print(out)
            return 0
        same = out.read_bytes() == src.read_bytes()
        print("identical" if same else "different")
        return 0 if same else 1
    finally:
        if scratch is not None:
            scratch.cleanup()


def cmd_sweep(args: argparse.Namespace) -> int:
    """An output's recipe with one to three settings swept, as a grid or a folder."""
    from models.tasks import sweep

    recipe = _read_and_check(args.source, args.allow_changed)
    try:
        axes = [sweep.Axis.parse(t) for t in (args.x, args.y, args.z) if t is not None]
        if args.z is not None and args.y is None:
            raise ValueError("--z needs --y")
        sweep.cells(recipe, axes)                      # every cell checked before any runs
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    reg = _registry()
    tty = sys.stderr.isatty()
    n = len(sweep.cells(recipe, axes))

    def done(k: int, values, path: Path) -> None:
        if tty:
            print(f"\rcell {k + 1}/{n}", end="", file=sys.stderr, flush=True)

    try:
        files = sweep.run_sweep(reg, recipe, axes, args.out, on_cell=done)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    except OSError as exc:
        from models.files import os_error_words

        raise CLIError(os_error_words(exc, args.out)) from None
    if tty:
        print(file=sys.stderr)
    for f in files:
        print(f)
    return 0


COMMANDS = {
    "recipe": cmd_recipe,
    "replay": cmd_replay,
    "sweep": cmd_sweep,
}
