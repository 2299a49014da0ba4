"""What every command group shares: one-line errors, the registry, models named or given
as files, recipes run through the one runner."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

EXIT_USAGE = 2


class CLIError(Exception):
    """A problem the user can fix; printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _registry(checkpoints: list[Path] = ()):
    from models.registry import default_registry

    reg = default_registry()
    for path in checkpoints:
        reg.add_checkpoint(path)
    return reg


def _resolve_model(reg, name: str, kind: str = "model", capability=None,
                   config: str | None = None) -> str:
    """A registered model's name, or a checkpoint file's path (registered here; ``config``:
    the configs a single-file Stable Diffusion checkpoint takes)."""
    from models.protocol import Capability

    if name in {i.name for i in reg.infos()}:
        return name
    path = Path(name).expanduser()
    if path.exists() or path.suffix.lower() in (".safetensors", ".pt", ".pth", ".ckpt",
                                                ".pkl"):
        return reg.add_checkpoint(path, config=config,
                                  capability=capability or Capability.NONE).name
    known = ", ".join(i.name for i in reg.infos(capability or Capability.NONE))
    raise CLIError(f"no {kind} named '{name}' and no such checkpoint file ({kind}s: {known})")


def _recipe(task: str, params: dict, info, inputs: dict | None = None, arrays=None):
    """The recipe of a job about to run (its input files fingerprinted)."""
    from models import device as devices
    from models.recipe import Recipe

    try:
        return Recipe.of(task, params, model_info=info, inputs=inputs, arrays=arrays,
                         device=devices.current_device())
    except OSError as exc:
        raise CLIError(f"{exc.filename}: cannot be read ({exc.strerror or exc})") from None


def _run_recipe(reg, recipe, out: Path, where: str = "", about: str = "",
                quiet: bool = False) -> str:
    """Run a recipe through the one runner (replay and sweeps use it too); its notes to
    stderr (``about``: what they are about; ``quiet``: the caller says them), errors as one
    line (``where``: the row of a pairs file)."""
    from models.files import os_error_words
    from models.tasks import runner

    try:
        note = runner.run(reg, recipe, out)
    except ValueError as exc:
        raise CLIError(f"{where}{exc}") from None
    except OSError as exc:
        raise CLIError(os_error_words(exc, out)) from None
    if note and not quiet:
        for line in note.split("; "):
            print(f"{about}: {line}" if about else line, file=sys.stderr)
    return note


def _vocoder(name: str | None, checkpoints: list[Path] = (), reg=None):
    from models.protocol import Capability

    reg = reg or _registry()
    added = [reg.add_checkpoint(path) for path in checkpoints]
    if name is None and added:
        name = added[-1].name                   # --checkpoint without --vocoder: use it
    if name is None:
        name = reg.default(Capability.VOCODE)
    name = _resolve_model(reg, name, "vocoder", Capability.VOCODE)
    names = [i.name for i in reg.infos(Capability.VOCODE)]
    if name not in names:
        raise CLIError(f"no vocoder named '{name}' (vocoders: {', '.join(names)})")
    return reg, name


def _params(info, pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs checked against the settings the model declares."""
    from models.protocol import check_params

    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CLIError(f"--param takes NAME=VALUE, not '{pair}'")
        values[name.strip()] = value.strip()
    try:
        return check_params(info.params, values, info.name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _read_audio(path: Path, rate: int | None = None):
    from models.audio.io import AudioFileError, read_audio

    try:
        return read_audio(path, rate)
    except AudioFileError as exc:
        raise CLIError(str(exc)) from None


def _attribute_model(reg, model: str | None) -> str:
    """The attribute model named (or given as a file), or the shipped default."""
    from models.protocol import Capability

    if model is None:
        name = reg.default(Capability.ATTRIBUTES)
        if not name:
            raise CLIError("no speech attribute model is registered (train one with "
                           "'latent-studio train attributes')")
        return name
    name = _resolve_model(reg, model, "attribute model", Capability.ATTRIBUTES)
    if Capability.ATTRIBUTES not in reg.info(name).capabilities:
        raise CLIError(f"'{name}' is not a speech attribute model")
    return name


def _load_images(reg, name: str, paths: list[Path]):
    """Pictures as the model receives them; what was done to each goes to stderr."""
    import numpy as np

    from models.tasks.pictures import read_for_model

    arrays = []
    for p in paths:
        arr, note = read_for_model(reg, name, p)
        if note:
            print(f"{p}: {note}", file=sys.stderr)
        arrays.append(arr)
    return np.stack(arrays)


def _latent_model(name: str, config: str | None = None):
    """(registry, model name) of a latent model given by name or checkpoint path (the VAE
    of a Stable Diffusion checkpoint; ``config`` as for ``generate``)."""
    from models.protocol import Capability

    reg = _registry()
    name = _resolve_model(reg, name, "model", Capability.LATENT, config)
    info = reg.info(name)
    if Capability.LATENT not in info.capabilities:
        raise CLIError(f"model '{name}' has no latent space (it is a {info.family})")
    return reg, name


def _seed_or_path(text: str) -> int | Path:
    """A whole number that is not a file: a seed; otherwise a picture's path."""
    path = Path(text).expanduser()
    if text.lstrip("-").isdigit() and not path.exists():
        return int(text)
    return path


def _read_pairs(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV that must have ``columns`` in its header (errors name the file)."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError(f"{path}: cannot read ({exc})") from None
    if not rows or not set(columns) <= set(rows[0]):
        raise CLIError(f"{path}: needs a header '{','.join(columns)}' and one row per "
                       "picture")
    return rows


def _pair_rows(path: Path, inputs: tuple[str, ...]) -> list[tuple[list[Path], str, str]]:
    """Every row of a pairs CSV (header ``inputs`` + out) checked before anything runs:
    (input paths relative to the CSV, out file name, "CSV, line N: " for later errors)."""
    rows = _read_pairs(path, (*inputs, "out"))
    out = []
    for n, row in enumerate(rows, start=2):
        paths = [path.parent / (row.get(k) or "").strip() for k in inputs]
        missing = [str(p) for p in paths if not p.is_file()]
        out_name = (row.get("out") or "").strip()
        if missing or not out_name or Path(out_name).name != out_name:
            why = (f"no such picture {missing[0]}" if missing
                   else f"'out' must be a file name, not '{out_name}'")
            raise CLIError(f"{path}, line {n}: {why}")
        out.append((paths, out_name, f"{path}, line {n}: "))
    return out


def _end(text: str, what: str) -> tuple[object, dict]:
    """A seed (a whole number that is not a file) as a param, or a picture as an input."""
    end = _seed_or_path(text)
    if isinstance(end, int):
        return end, {}
    if not end.is_file():
        raise CLIError(f"{what} '{text}' is neither a seed (a whole number) nor a picture file")
    return "picture", {what.lstrip("-"): end}


class events_log:  # noqa: N801  # used as a function: log = events_log(...)
    """A training's ``log``: each event (a JSON line) printed as it comes when ``events`` is
    set or stdout is not a terminal; on a terminal, step events drive one progress bar on
    stderr (steps, loss, elapsed, ETA) and the other events print above it."""

    def __init__(self, events: bool, stream=None) -> None:
        self.bar = not events and sys.stdout.isatty()
        self.stream = stream or sys.stderr
        self.width = 0

    def __call__(self, line: str) -> None:
        if not self.bar:
            print(line, flush=True)
            return
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "loss" not in event:
            self._clear()
            print(line, flush=True)
            return
        step, total, secs = event["step"], event.get("total") or 0, event.get("seconds", 0)
        frac = step / total if total else 0.0
        eta = f"{(secs / frac - secs) / 60:.1f} min left" if frac > 0 else "timing…"
        filled = int(30 * frac)
        text = (f"\r[{'#' * filled}{'.' * (30 - filled)}] {100 * frac:5.1f}%  step {step}"
                f"{f'/{total}' if total else ''}  loss {event['loss']:.4g}  {eta}")
        self.width = len(text)
        self.stream.write(text)
        self.stream.flush()

    def _clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0

    def close(self) -> None:
        if self.bar and self.width:
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
