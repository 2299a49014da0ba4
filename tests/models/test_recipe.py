"""Recipes: the versioned record of how an output was made (models/recipe.py)."""

import json
import warnings

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from models.recipe import FORMAT, PNG_KEY, Recipe, RecipeError, read_recipe
from models.registry import Registry
from tests.conftest import make_tiny_vae


def a_recipe(tmp_path):
    weights = make_tiny_vae(tmp_path / "w")
    info = Registry(tmp_path / "w").info("tiny-vae")
    picture = tmp_path / "in.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(picture)
    return Recipe.of("latent.interpolate", {"steps": np.int64(8), "mode": "slerp",
                                            "seed": 7, "size": (64, 64)},
                     model_info=info, inputs={"picture": picture},
                     arrays={"a": np.arange(4, dtype=np.float32),
                             "big": np.ones((80, 80), np.float32)}), weights, picture


def test_a_recipe_goes_into_a_png_and_comes_back_whole(tmp_path):
    r, weights, _ = a_recipe(tmp_path)
    assert r.model["family"] == "vae" and r.model["fingerprint"].startswith("sha256:")
    assert r.params == {"steps": 8, "mode": "slerp", "seed": 7, "size": [64, 64]}
    assert set(r.made_with) == {"studio", "torch", "device"}
    with pytest.raises(RecipeError, match="too big to keep inline"):
        r.to_text()
    out = tmp_path / "out.png"
    meta = PngInfo()
    meta.add_text(PNG_KEY, r.to_text(sidecar=tmp_path / "out.npz"))
    Image.new("RGB", (4, 4)).save(out, pnginfo=meta)
    back = read_recipe(out)
    assert (back.task, back.params, back.model, back.inputs, back.made_with) == (
        r.task, r.params, r.model, r.inputs, r.made_with)
    for k in ("a", "big"):
        assert back.arrays[k].dtype == np.float32 and np.array_equal(back.arrays[k], r.arrays[k])
    assert back.problems() == []
    (tmp_path / "recipe.json").write_text(json.dumps(r.to_json(tmp_path / "out.npz")))
    assert read_recipe(tmp_path / "recipe.json").params == r.params


def test_changed_or_missing_files_are_named(tmp_path):
    r, weights, picture = a_recipe(tmp_path)
    Image.new("RGB", (8, 8), (99, 20, 30)).save(picture)
    weights.unlink()
    problems = r.problems()
    assert problems == [f"model {weights.resolve()}: missing",
                        f"picture {picture.resolve()}: its content has changed since the "
                        "recipe was made"]


@pytest.mark.parametrize("content,needle", [
    ("[1, 2]", "a recipe is a JSON object, not a list"),
    ('{"format": "latent-studio-recipe", "version": 1, "task": "x", "par', "not a readable"),
    ('{"format": "something else"}', "not a Latent Studio recipe"),
    ('{"format": "latent-studio-recipe", "version": 1}', "names no task"),
    ('{"format": "latent-studio-recipe", "version": 1, "task": "t", "inputs": [{"role": "x"}]}',
     "lacks its role, path or fingerprint"),
    ('{"format": "latent-studio-recipe", "version": 1, "task": "t", "arrays": {"a": {"data": '
     '"!!", "dtype": "float32", "shape": [1]}}}', "array 'a' cannot be read"),
])
def test_bad_recipes_get_a_clear_message(tmp_path, content, needle):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(RecipeError, match=needle) as info:
        read_recipe(path)
    assert str(path) in str(info.value)


def test_other_tools_pictures_and_newer_recipes(tmp_path):
    other = tmp_path / "a1111.png"
    meta = PngInfo()
    meta.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Seed: 1")
    Image.new("RGB", (4, 4)).save(other, pnginfo=meta)
    with pytest.raises(RecipeError, match="carries no Latent Studio recipe"):
        read_recipe(other)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": FORMAT, "version": 99, "task": "t",
                                 "params": {"x": 1}, "what": "comes later"}))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = read_recipe(newer)
    assert r.params == {"x": 1} and "newer Latent Studio" in str(seen[0].message)


def test_a_second_models_weights_are_checked_too(tmp_path):
    voc = tmp_path / "voc.safetensors"
    voc.write_bytes(b"weights one")
    from models.files import fingerprint

    r = Recipe.of("attributes-edit", {"vocoder": {"name": "v", "path": str(voc),
                                                   "fingerprint": fingerprint(voc)}})
    assert r.problems() == []
    voc.write_bytes(b"weights two, another size")
    assert r.problems() == [f"vocoder {voc}: its content has changed since the recipe was made"]
    moved = r.relocated(r.files()[0], tmp_path / "elsewhere.safetensors")
    assert moved.params["vocoder"]["path"].endswith("elsewhere.safetensors")
    assert r.params["vocoder"]["path"] == str(voc)
