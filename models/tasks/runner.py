"""One path for every job that has a recipe: a task name maps to the function that runs it,
so a command-line run, a replay, a sweep cell and a history entry are the same thing and
cannot drift apart.

A task function takes the registry, the recipe and where to write; it writes the output
with the recipe in it and returns a note of what was done to the inputs ("" when nothing).
Errors are ValueErrors (RecipeError, ImageLoadError, AudioFileError) in our words.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from models.recipe import Recipe, RecipeError
from models.registry import Registry

TaskFn = Callable[..., str]      # (registry, recipe, out, ctx=None) -> note
TASKS: dict[str, TaskFn] = {}
# What each task writes (the first is the default of a replay from a recipe file).
WRITES: dict[str, tuple[str, ...]] = {}
# Tasks registered by modules that build on this one (imported when first run).
ELSEWHERE = {"sweep": "models.tasks.sweep"}


def task(name: str, writes: tuple[str, ...] = (".png",)) -> Callable[[TaskFn], TaskFn]:
    def register(fn: TaskFn) -> TaskFn:
        TASKS[name] = fn
        WRITES[name] = writes
        return fn
    return register


def run(registry: Registry, recipe: Recipe, out: str | Path, ctx: Any = None) -> str:
    """Run ``recipe`` writing ``out`` (``ctx``: a JobContext for progress and cancelling);
    RecipeError for a task this studio does not have or an output type the task does not
    write."""
    if recipe.task in ELSEWHERE:
        import importlib

        importlib.import_module(ELSEWHERE[recipe.task])
    fn = TASKS.get(recipe.task)
    if fn is None:
        known = ", ".join(sorted(TASKS)) or "none"
        raise RecipeError(f"this Latent Studio cannot run the task '{recipe.task}' (it runs: "
                          f"{known})")
    out = Path(out)
    if out.suffix.lower() not in WRITES[recipe.task]:
        raise RecipeError(f"{out}: a {recipe.task} writes {' or '.join(WRITES[recipe.task])}")
    if not out.parent.is_dir():
        raise RecipeError(f"{out}: folder {out.parent} does not exist")
    return fn(registry, recipe, out, ctx=ctx)


def model_for(registry: Registry, recipe: Recipe, which: dict[str, str] | None = None) -> str:
    """The registered name of the recipe's model (or of ``which``): the same file registered
    here, one registered under its name when the recipe names no file, else its checkpoint
    opened from its path; RecipeError when it is none of these."""
    m = recipe.model if which is None else which
    name, path = m.get("name", ""), m.get("path", "")
    for info in registry.infos():
        if path and info.path and Path(info.path) == Path(path):
            return info.name
        if info.name == name and (not path or (info.path or "") == path):
            return name
    if path and Path(path).exists():
        config = recipe.params.get("config") or None
        return registry.add_checkpoint(path, config).name
    raise RecipeError(f"the recipe's model '{name}' ({path or 'no file'}) is not here")


def warm_fingerprint(registry: Registry, *models: str) -> None:
    """The models' fingerprints computed here, in a worker (they are kept: a recipe made
    later on the main thread then costs nothing; a StyleGAN pickle or a Stable Diffusion
    file would take a second to hash there)."""
    from models.files import fingerprint

    for model in models:
        path = registry.info(model).path if model else None
        if path and Path(path).exists():
            fingerprint(path)


def model_entry(registry: Registry, name: str) -> dict[str, str]:
    """A second model of a recipe (the vocoder of an attribute edit): name, path and the
    fingerprint of its weights."""
    from models.files import fingerprint

    info = registry.info(name)
    out = {"family": str(info.family), "name": name, "path": str(info.path or "")}
    if info.path and Path(info.path).exists():
        out["fingerprint"] = fingerprint(info.path)
    return out


def input_path(recipe: Recipe, role: str) -> Path:
    for f in recipe.inputs:
        if f.role == role:
            return Path(f.path)
    raise RecipeError(f"the recipe has no {role} among its inputs")


def inputs_of(recipe: Recipe, prefix: str) -> list[Path]:
    """Every input whose role is ``prefix-1``, ``prefix-2``, ... in order."""
    found = [(int(f.role.rpartition("-")[2]), Path(f.path)) for f in recipe.inputs
             if f.role.startswith(prefix + "-") and f.role.rpartition("-")[2].isdigit()]
    return [p for _, p in sorted(found)]


def seed_or_input(recipe: Recipe, key: str) -> int | Path:
    """An end given as a seed (a whole number in the params) or as the input ``key``."""
    value = recipe.params.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return input_path(recipe, key)


def _pictures(registry: Registry, model: str, paths: list[Path]) -> tuple[np.ndarray, str]:
    """Pictures as the model receives them, and what was done to them."""
    from models.tasks.pictures import read_for_model

    arrays, notes = [], []
    for p in paths:
        arr, note = read_for_model(registry, model, p)
        arrays.append(arr)
        if note:
            notes.append(f"{p.name}: {note}")
    return np.stack(arrays), "; ".join(notes)


# -- pictures ---------------------------------------------------------------------------------

@task("reconstruct", (".png", ".jpg", ".jpeg", ".gif"))
def _reconstruct(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A picture encoded and decoded by a latent model, at its own size where the model's
    latent follows it (latent-studio reconstruct)."""
    from models.image.io import save_image
    from models.tasks.pictures import far_warning, sized_for_file

    picture = input_path(recipe, "picture")
    name = sized_for_file(registry, model_for(registry, recipe), picture)
    backend = registry.get(name)
    img, note = _pictures(registry, name, [picture])
    rec = backend.decode(backend.encode(img))
    save_image(rec[0], out, recipe=recipe)
    warning = far_warning(registry, name, img[0], rec[0])
    return "; ".join(x for x in (note, warning and f"{picture.name}: warning: {warning}")
                     if x)


@task("interpolate", (".png", ".gif"))
def _interpolate(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """The decoded path between two ends (pictures or seeds) as a strip or a GIF."""
    from models.image.latent_ops import path as latent_path
    from models.tasks.latent import export_frames
    from models.tasks.pictures import sized_for_file

    p = recipe.params
    model = model_for(registry, recipe)
    note = ""
    if "a" in recipe.arrays:            # the Latent Explorer's ends, as latents
        size = p.get("size")
        name = registry.sized(model, int(size[0]), int(size[1])) if size else model
        z = np.stack([recipe.arrays["a"], recipe.arrays["b"]]).astype(np.float32)
    else:
        ends = [seed_or_input(recipe, k) for k in ("a", "b")]
        pictures = [e for e in ends if isinstance(e, Path)]
        name = (sized_for_file(registry, model, pictures[0]) if pictures
                else registry.sized(model, 512, 512))
        backend = registry.get(name)
        codes: Any = iter([])
        if pictures:
            imgs, note = _pictures(registry, name, pictures)
            codes = iter(backend.encode(imgs))
        z = np.stack([backend.sample_latents(1, e)[0] if isinstance(e, int) else next(codes)
                      for e in ends])
    steps = int(p["steps"])
    if not 2 <= steps <= 512:
        raise ValueError(f"steps must be between 2 and 512, not {steps}")
    export_frames(registry, name, latent_path(z[0], z[1], steps, str(p["mode"])), out,
                  int(p["scale"]), bool(p.get("smooth", False)), ctx=ctx, recipe=recipe)
    return note


@task("directions")
def _directions(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A picture moved along one of a latent model's directions (latent-studio directions
    apply)."""
    from models.image.directions import DirectionSet
    from models.image.io import save_image
    from models.train.directions import directions_path

    p = recipe.params
    name = model_for(registry, recipe)
    ds = DirectionSet.load(directions_path(registry.info(name)))
    layers = p.get("layers")
    layers = "default" if layers is None else tuple(int(v) for v in layers)
    hold = tuple(p.get("hold", ()))
    amount = float(p["amount"])
    if not -10 <= amount <= 10:
        raise ValueError(f"the amount must be between -10 and 10 steps, not {amount:g}")
    ds.vector(str(p["direction"]), layers, hold)               # ValueError: unknown names
    images, note = _pictures(registry, name, [input_path(recipe, "picture")])
    backend = registry.get(name)
    z = ds.apply(backend.encode(images), str(p["direction"]), amount, layers, hold)
    save_image(backend.decode(z)[0], out, scale=int(p.get("scale", 1)), recipe=recipe)
    return note


@task("decode", (".png", ".jpg", ".jpeg", ".gif"))
def _decode(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A latent decoded by its model (the Picture attributes panel's edited picture: its
    latent moved along the directions as the params say)."""
    from models.image.io import save_image

    name = model_for(registry, recipe)
    z = recipe.arrays["latent"].astype(np.float32)
    save_image(registry.get(name).decode(z[None], ctx=ctx)[0], out,
               scale=int(recipe.params.get("scale", 1)), recipe=recipe)
    return ""


@task("stylemix")
def _stylemix(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A style mix of two sources (seeds or pictures), a character in the style of a few
    glyphs, or a line of text in that style (latent-studio stylemix)."""
    from models.image.io import save_image
    from models.tasks import stylemix as sm

    p = recipe.params
    name = sm.style_model(registry, model_for(registry, recipe))
    info = registry.info(name)
    mode, psi, notes = p["mode"], float(p.get("psi", 1.0)), []
    if mode == "mix":
        from_b = sm.parse_layers(str(p["layers"]), info.style.layers)
        label = int(p.get("class", 0))
        backend = registry.get(name)
        codes = []
        for key in ("a", "b"):
            end = seed_or_input(recipe, key)
            if isinstance(end, int):
                codes.append(backend.codes_from_seeds([end], label=label)[0])
            else:
                img, note = _pictures(registry, name, [end])
                notes.append(note)
                codes.append(backend.encode_codes(img)[0])
        cutoff = p.get("cutoff")
        img = sm.mix_grid(registry, name, codes[0][None], codes[1][None], from_b, psi=psi,
                          cutoff=None if cutoff is None else int(cutoff),
                          noise_seed=p.get("seed"))[0, 0]
    else:
        styles, note = _pictures(registry, name, inputs_of(recipe, "style"))
        notes.append(note)
        style = sm.style_code(registry, name, list(styles))
        strength = float(p.get("strength", 1.0))
        if mode == "in_style":
            content, note = _pictures(registry, name, [input_path(recipe, "content")])
            notes.append(note)
            img = sm.in_style(registry, name, content, style, strength=strength, psi=psi)[0]
        elif mode == "text":
            img = sm.write_text(registry, name, str(p["text"]), style, strength=strength,
                                psi=psi)
        else:
            raise RecipeError(f"unknown style mixing mode '{mode}'")
    save_image(img, out, scale=int(p.get("scale", 1)), recipe=recipe)
    return "; ".join(n for n in notes if n)


@task("stylemix-grid")
def _stylemix_grid(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """The Style Mixer's grid: rows (A) × columns (B) given as W+ codes, with the rows and
    columns drawn alone as headers (the panel's export)."""
    from models.image.io import save_image
    from models.tasks import stylemix as sm

    p = recipe.params
    name = sm.style_model(registry, model_for(registry, recipe))
    cutoff = p.get("cutoff")
    grid, rows, cols = sm.render_mix(
        registry, name, recipe.arrays["a"].astype(np.float32),
        recipe.arrays["b"].astype(np.float32), tuple(int(v) for v in p["from_b"]),
        float(p["psi"]), None if cutoff is None else int(cutoff), p.get("seed"),
        tuple(float(v) for v in p.get("strengths", ())), ctx=ctx)
    picture = sm.grid_picture(grid, rows, cols, int(p.get("scale", 1)))
    save_image(picture.astype(np.float32) / 255.0, out, recipe=recipe)
    return ""


@task("inpaint")
def _inpaint(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A glyph model's inpainting of a picture file with a mask file (latent-studio inpaint)."""
    from models.tasks import inpaint as ip

    name = model_for(registry, recipe)
    info = registry.info(name)
    p = recipe.params
    options = ip.InpaintOptions(sampler=p["sampler"], steps=int(p["steps"]),
                                repaint=p["repaint"], guidance=float(p["guidance"]),
                                label=p["label"], seed=int(p["seed"]),
                                feather=float(p["feather"]))
    if "image" in recipe.arrays:            # a panel's run: the picture as the model took it
        prep = ip.Prepared(recipe.arrays["image"].astype(np.float32),
                           recipe.arrays["mask"].astype(np.float32), "",
                           bool(p.get("dark_on_light", False)))
        files = {}
    else:
        image, mask = input_path(recipe, "picture"), input_path(recipe, "mask")
        prep = ip.read_pair(registry, name, image, mask, bool(p.get("frame_glyph", False)))
        files = {"source": image.name, "mask": mask.name}
    result = ip.run(registry, name, prep.image, prep.mask, options, ctx=ctx)
    save_inpainting(recipe, name, info.classes, prep.shown(result), out, files)
    return prep.note


def save_inpainting(recipe: Recipe, name: str, classes: tuple[str, ...], shown: np.ndarray,
                    out: Path, files: dict[str, str] | None = None) -> Path:
    """A glyph model's inpainting as written by the command and by the panel alike: its
    options as text chunks and its recipe, so a replay is the same file."""
    from models.tasks import inpaint as ip

    p = recipe.params
    options = ip.InpaintOptions(sampler=p["sampler"], steps=int(p["steps"]),
                                repaint=p["repaint"], guidance=float(p["guidance"]),
                                label=p["label"], seed=int(p["seed"]),
                                feather=float(p["feather"]))
    meta = {"model": name, **options.describe(classes), "source": p.get("source", ""),
            **(files or {})}
    return ip.save_with_metadata(shown, out, meta, scale=int(p.get("scale", 1)),
                                 recipe=recipe)


GENERATE_KEYS = ("prompt", "negative", "steps", "guidance", "scheduler", "seed", "width",
                 "height", "strength", "mask_blur", "only_masked", "padding", "loras",
                 "embeddings")


def generate_options(params: dict[str, Any]):
    """GenerateOptions of a recipe's params (one picture: a batch is one recipe each)."""
    from models.tasks.generate import GenerateOptions

    kw = {k: params[k] for k in GENERATE_KEYS if k in params}
    kw["loras"] = tuple((str(path), float(w)) for path, w in kw.get("loras", ()))
    kw["embeddings"] = tuple(str(e) for e in kw.get("embeddings", ()))
    for k in ("steps", "seed", "width", "height", "padding"):
        if k in kw:
            kw[k] = int(kw[k])
    return GenerateOptions(**kw)


def generate_params(options, load: dict[str, Any]) -> dict[str, Any]:
    """A recipe's params of GenerateOptions and the model's load options (precision...)."""
    return {**{k: getattr(options, k) for k in GENERATE_KEYS}, "load": dict(load)}


def read_rgb(path: Path) -> np.ndarray:
    """A picture as (H, W, 3) float32 in [0, 1], transparency over white."""
    from models.image.io import read_picture_rgb

    return read_picture_rgb(path).astype("float32") / 255.0


@task("generate")
def _generate(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """Stable Diffusion: text-to-image, img2img (a picture input) or inpainting (a picture
    and a mask), one picture with its ``parameters`` text and its recipe."""
    from models.image.io import open_picture
    from models.tasks import generate as gen
    from models.tasks.inpaint import mask_from_picture

    name = model_for(registry, recipe)
    options = generate_options(recipe.params)
    load = dict(recipe.params.get("load", {}))
    if load:
        registry.set_load_options(name, **load)
    roles = {f.role for f in recipe.inputs}
    image = mask = None
    files: dict[str, str] = {}
    if "image" in recipe.arrays:            # a panel's run: its picture and painted mask
        image = recipe.arrays["image"].astype(np.float32)
        mask = recipe.arrays["mask"].astype(np.float32) if "mask" in recipe.arrays else None
    elif "picture" in roles:
        image = read_rgb(input_path(recipe, "picture"))
        files["source"] = input_path(recipe, "picture").name
        if "mask" in roles:
            mask = mask_from_picture(open_picture(input_path(recipe, "mask"))[0])
            files["mask"] = input_path(recipe, "mask").name
    result = gen.run(registry, name, options, image, mask, ctx=ctx)[0]
    save_generated(recipe, name, result, out, image is not None, mask is not None, files)
    return ""


def save_generated(recipe: Recipe, name: str, result: np.ndarray, out: Path,
                   has_image: bool, has_mask: bool, files: dict[str, str] | None = None
                   ) -> Path:
    """A Stable Diffusion picture as the command and the panel write it: its options, the
    ``parameters`` text other tools read, and its recipe."""
    from models.tasks import generate as gen
    from models.tasks.inpaint import save_with_metadata

    options = generate_options(recipe.params)
    size = (result.shape[1], result.shape[0])
    strength = options.resolved_strength(True, has_mask) if has_image else None
    meta = {"model": name, **options.describe(), **(files or {}),
            "parameters": gen.parameters_text(options, name, size, strength, has_mask)}
    rgb = np.round(np.clip(result, 0, 1) * 255).astype(np.uint8)
    return save_with_metadata(rgb, out, meta, recipe=recipe)


# -- sound ------------------------------------------------------------------------------------

def _clip(recipe: Recipe, rate: int | None = None):
    from models.audio.io import read_audio

    clip = read_audio(input_path(recipe, "audio"), rate)
    note = (f"{clip.source_channels} channels mixed to mono" if clip.source_channels > 1
            else "")
    return clip, note


@task("vocode", (".wav", ".flac"))
def _vocode(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A recording analysed to a mel and vocoded back, at its own rate (latent-studio
    vocode)."""
    from models.audio.io import write_wav
    from models.protocol import check_params
    from models.tasks.audio import round_trip

    name = model_for(registry, recipe)
    params = check_params(registry.info(name).params, dict(recipe.params.get("params", {})),
                          name)
    clip, note = _clip(recipe)
    y = round_trip(registry, name, clip.audio, clip.rate, params, ctx=ctx)
    write_wav(out, y, clip.source_rate, recipe=recipe)
    return note


@task("vocode-mel", (".wav", ".flac"))
def _vocode_mel(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """The Spectrogram panel's vocoding of an edited mel (an array of the recipe), brought
    back to the take's own rate and length."""
    from models.audio.io import fit_length, resample, write_wav
    from models.protocol import VocodeRequest
    from models.tasks.audio import vocode

    p = recipe.params
    name = model_for(registry, recipe)
    y = vocode(registry, name, VocodeRequest(recipe.arrays["mel"].astype(np.float32),
                                             dict(p.get("params", {}))), ctx=ctx)
    rate, own = int(p["rate"]), int(p.get("source_rate", p["rate"]))
    y = fit_length(resample(y, rate, own), int(p["length"]))
    write_wav(out, y, own, recipe=recipe)
    return ""


@task("spectrogram")
def _spectrogram(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A picture of a recording's mel spectrogram by a vocoder's analysis."""
    from models.audio.features import mel_to_db
    from models.audio.io import spectrogram_picture
    from models.files import save_picture
    from models.recipe import picture_options, recipe_text
    from models.tasks.audio import analyse_clip

    name = model_for(registry, recipe)
    clip, note = _clip(recipe)
    db = mel_to_db(analyse_clip(registry, name, clip.audio, clip.rate)[1])
    save_picture(spectrogram_picture(db), out,
                 **picture_options(out, recipe_text(recipe, out)))
    return note


ATTRIBUTE_CHANGES = ("pitch", "loudness", "snr", "c50")


@task("attributes-edit", (".wav", ".flac"))
def _attributes_edit(registry: Registry, recipe: Recipe, out: Path, ctx: Any = None) -> str:
    """A recording with its pitch, loudness, SNR or C50 changed (latent-studio attributes
    edit); a warning when it was lowered to stay below full scale."""
    from models.audio.io import write_wav
    from models.audio.speech_edit import METHODS, edit_audio

    p = recipe.params
    name = model_for(registry, recipe)
    backend = registry.get(name)
    if not getattr(backend, "can_generate", False):
        raise ValueError(f"'{name}' analyses only; it cannot regenerate speech (retrain it "
                         "with 'latent-studio train attributes --content-dims 20')")
    vocoder = model_for(registry, recipe, dict(p.get("vocoder", {})))
    rate = backend.mel_settings.sample_rate
    if "audio" in recipe.arrays:            # the Speech attributes panel's clip
        audio, note = recipe.arrays["audio"].astype(np.float32), ""
    else:
        clip, note = _clip(recipe, rate)
        audio = clip.audio
        if audio.size < rate // 4:
            raise ValueError(f"{input_path(recipe, 'audio')}: shorter than 0.25 s; nothing "
                             "to edit")
    changes = {k: float(p[k]) for k in ATTRIBUTE_CHANGES if p.get(k) is not None}
    curves = {k[len("curve-"):]: v.astype(np.float32) for k, v in recipe.arrays.items()
              if k.startswith("curve-")}
    res = edit_audio(backend, registry.get(vocoder), audio, changes, curves or None,
                     regenerate=bool(p.get("regenerate", False)),
                     keep_formants=bool(p.get("keep_formants", True)), ctx=ctx)
    own = int(p.get("out_rate") or rate)
    y = res.audio
    if own != rate:
        from models.audio.io import resample

        y = resample(y, rate, own)
    write_wav(out, y, own, recipe=recipe)
    notes = [note] if note else []
    if res.limited_db:
        notes.append(f"warning: lowered by {res.limited_db:.1f} dB to stay below full scale")
    how = METHODS[res.method].replace("the model", name)
    if res.method == "regenerated":
        how += f" by {vocoder}"
    return "\n".join([*notes, how])        # the last line: how it was done
