"""The headless commands: the same backends as the window, no screen needed.

Bad arguments or unreadable files print one line on stderr and exit with status 2. One
module per command group (build, pictures, sound, evaluate, recipes); each turns its
arguments into recipes run by models/tasks/runner.py, or into the tasks it calls.
"""

from __future__ import annotations

import argparse
import os
import sys

from models import __version__
from studio.cli import build, evaluate, pictures, recipes, sound
from studio.cli.common import EXIT_USAGE, CLIError, _Parser

GROUPS = (build, sound, pictures, evaluate, recipes)
_COMMANDS = {name: fn for group in GROUPS for name, fn in group.COMMANDS.items()}

__all__ = ["CLIError", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="latent-studio", description="Explore and judge generative models. "
                "With no command, opens the studio window.")
    p.add_argument("--version", action="version", version=f"latent-studio {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # for the cards' commands
    if args.command is None:
        from studio.app import run_gui

        return run_gui()
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("latent-studio: interrupted", file=sys.stderr)
        return 130
    except CLIError as exc:
        print(f"latent-studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # every failure is one line; LATENT_STUDIO_DEBUG shows more
        if os.environ.get("LATENT_STUDIO_DEBUG"):
            raise
        from studio.jobs import describe_error

        print(f"latent-studio: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
