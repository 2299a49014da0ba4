"""One path for every job that has a recipe: a task name maps to the function that runs it,
so a command-line run, a replay and (later) a sweep cell or a history entry are the same
thing and cannot drift apart.

A task function takes the registry, the recipe and where to write; it writes the output
with the recipe in it and returns a note of what was done to the inputs ("" when nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from models.recipe import Recipe, RecipeError
from models.registry import Registry

TaskFn = Callable[[Registry, Recipe, Path], str]
TASKS: dict[str, TaskFn] = {}


def task(name: str) -> Callable[[TaskFn], TaskFn]:
    def register(fn: TaskFn) -> TaskFn:
        TASKS[name] = fn
        return fn
    return register


def run(registry: Registry, recipe: Recipe, out: str | Path) -> str:
    """Run ``recipe`` writing ``out``; RecipeError for a task this studio does not have."""
    fn = TASKS.get(recipe.task)
    if fn is None:
        known = ", ".join(sorted(TASKS)) or "none"
        raise RecipeError(f"this Latent Studio cannot run the task '{recipe.task}' (it runs: "
                          f"{known})")
    return fn(registry, recipe, Path(out))


def model_for(registry: Registry, recipe: Recipe) -> str:
    """The registered name of the recipe's model: the same file registered here, else its
    checkpoint opened from its path; RecipeError when it is neither."""
    name, path = recipe.model.get("name", ""), recipe.model.get("path", "")
    for info in registry.infos():
        if info.name == name and (info.path or "") == path:
            return name
        if path and info.path and Path(info.path) == Path(path):
            return info.name
    if path and Path(path).exists():
        config = recipe.params.get("config") or None
        return registry.add_checkpoint(path, config).name
    raise RecipeError(f"the recipe's model '{name}' ({path or 'no file'}) is not here")


def input_path(recipe: Recipe, role: str) -> Path:
    for f in recipe.inputs:
        if f.role == role:
            return Path(f.path)
    raise RecipeError(f"the recipe has no {role} among its inputs")


@task("inpaint")
def _inpaint(registry: Registry, recipe: Recipe, out: Path) -> str:
    """A glyph model's inpainting of a picture file with a mask file (latent-studio inpaint)."""
    from models.tasks import inpaint as ip

    name = model_for(registry, recipe)
    info = registry.info(name)
    p = recipe.params
    options = ip.InpaintOptions(sampler=p["sampler"], steps=int(p["steps"]),
                                repaint=p["repaint"], guidance=float(p["guidance"]),
                                label=p["label"], seed=int(p["seed"]),
                                feather=float(p["feather"]))
    image, mask = input_path(recipe, "picture"), input_path(recipe, "mask")
    prep = ip.read_pair(registry, name, image, mask, bool(p.get("frame_glyph", False)))
    result = ip.run(registry, name, prep.image, prep.mask, options)
    meta = {"model": name, **options.describe(info.classes), "source": image.name,
            "mask": mask.name}
    ip.save_with_metadata(prep.shown(result), out, meta, scale=int(p.get("scale", 1)),
                          recipe=recipe)
    return prep.note
