"""Every command's output carries its recipe and replays byte-identical; sweeps are cells of
single runs. The commands run in this process (studio.cli.main), as a user types them."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageDraw, ImageFont

from studio.cli import main
from tests.models import sd_tiny

DATA = Path(__file__).resolve().parents[1] / "data"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def ok(capsys, *args):
    code, out, err = run(capsys, *args)
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf", 70)
    for ch in "ab":
        im = Image.new("RGB", (90, 90), "white")
        ImageDraw.Draw(im).text((45, 45), ch, font=font, fill="black", anchor="mm")
        im.save(d / f"{ch}.png")
    m = Image.new("L", (90, 90), 0)
    ImageDraw.Draw(m).rectangle((0, 0, 90, 40), fill=255)
    m.save(d / "mask.png")
    x, rate = sf.read(DATA / "unseen-fr4.flac", dtype="float32")
    sf.write(d / "voice.wav", x[: rate], rate)              # one second
    sd_tiny.build(d / "sd")
    return d


def _cases(f: Path, out: Path):
    a, b, mask, voice = f / "a.png", f / "b.png", f / "mask.png", f / "voice.wav"
    return {
        "reconstruct": ("reconstruct", "--model", "vae-glyphs", a, "--out", out / "r.png"),
        "interpolate": ("interpolate", "--model", "vae-glyphs", a, "7", "--steps", "3",
                        "--out", out / "walk.gif"),
        "directions": ("directions", "apply", "--model", "vae-glyphs", a, "--direction",
                       "bold", "--amount", "2", "--out", out / "bold.png"),
        "stylemix": ("stylemix", "--a", "3", "--b", b, "--layers", "0-3", "--seed", "4",
                     "--out", out / "mix.png"),
        "in-style": ("stylemix", "--content", a, "--style", b, "--out", out / "style.png"),
        "inpaint": ("inpaint", "--model", "diffusion-glyphs", a, mask, "--steps", "3",
                    "--seed", "2", "--out", out / "inpaint.png"),
        "vocode": ("vocode", voice, out / "v.flac", "--vocoder", "vocoder-speech"),
        "spectrogram": ("spectrogram", voice, out / "s.png"),
        "attributes": ("attributes", "edit", voice, out / "higher.wav", "--pitch-semitones",
                       "2", "--vocoder", "vocoder-speech"),
        "generate": ("generate", "--model", f / "sd", "--prompt", "a red square", "--steps",
                     "2", "--seed", "9", "--width", "64", "--height", "64", "--out",
                     out / "sd.png"),
    }


CASES = ["reconstruct", "interpolate", "directions", "stylemix", "in-style", "inpaint",
         "vocode", "spectrogram", "attributes", "generate"]


@pytest.mark.parametrize("case", CASES)
def test_every_commands_output_replays_byte_identical(case, files, tmp_path, capsys):
    args = _cases(files, tmp_path)[case]
    out = next(a for a in args if isinstance(a, Path) and a.parent == tmp_path)
    ok(capsys, *args)
    recipe = json.loads(ok(capsys, "recipe", out))
    assert recipe["format"] == "latent-studio-recipe" and recipe["made_with"]["device"]
    assert all(i["fingerprint"].startswith("sha256") for i in recipe["inputs"])
    code, said, err = run(capsys, "replay", out, "--check")
    assert (code, said.strip()) == (0, "identical"), err
    again = tmp_path / f"again{out.suffix}"                 # from the recipe as JSON
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    ok(capsys, "replay", tmp_path / "r.json", "--out", again)
    assert again.read_bytes() == out.read_bytes()


def test_a_changed_seed_is_a_different_output_and_a_changed_input_is_named(files, tmp_path,
                                                                           capsys):
    out = tmp_path / "mix.png"
    ok(capsys, "stylemix", "--a", "3", "--b", "5", "--layers", "0-3", "--out", out)
    recipe = json.loads(ok(capsys, "recipe", out))
    recipe["params"]["a"] = 4
    (tmp_path / "other.json").write_text(json.dumps(recipe))
    other = tmp_path / "other.png"
    ok(capsys, "replay", tmp_path / "other.json", "--out", other)
    assert other.read_bytes() != out.read_bytes()
    pic = tmp_path / "a.png"
    pic.write_bytes((files / "a.png").read_bytes())
    rec = tmp_path / "rec.png"
    ok(capsys, "reconstruct", "--model", "vae-glyphs", pic, "--out", rec)
    Image.open(files / "b.png").save(pic)
    code, _, err = run(capsys, "replay", rec, "--out", tmp_path / "x.png")
    assert code == 2 and f"picture {pic.resolve()}: its content has changed" in err
    assert not (tmp_path / "x.png").exists()


def test_a_recipe_with_a_wrong_hash_writes_nothing(files, tmp_path, capsys):
    out = tmp_path / "v.wav"
    ok(capsys, "vocode", files / "voice.wav", out, "--vocoder", "griffinlim", "--iters", "4")
    recipe = json.loads(ok(capsys, "recipe", out))
    recipe["inputs"][0]["fingerprint"] = "sha256:" + "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(recipe))
    code, _, err = run(capsys, "replay", tmp_path / "bad.json", "--out", tmp_path / "n.wav")
    assert code == 2 and "its content has changed" in err and "--allow-changed" in err
    assert not (tmp_path / "n.wav").exists()
    (tmp_path / "cut.json").write_text(json.dumps(recipe)[:90])
    code, _, err = run(capsys, "replay", tmp_path / "cut.json")
    assert code == 2 and "not a readable recipe" in err and len(err.splitlines()) == 1


def test_sweep_cells_are_the_single_runs_and_the_grid_replays(files, tmp_path, capsys):
    single = tmp_path / "mix.png"
    ok(capsys, "stylemix", "--a", "3", "--b", "5", "--layers", "0-3", "--seed", "1",
       "--out", single)
    cells = tmp_path / "cells"
    said = ok(capsys, "sweep", single, "--x", "seed=1,2", "--y", "layers=0-3,4-9", "--out",
              cells)
    names = sorted(p.name for p in cells.iterdir())
    assert names == ["seed=1_layers=0-3.png", "seed=1_layers=4-9.png",
                     "seed=2_layers=0-3.png", "seed=2_layers=4-9.png"], said
    other = tmp_path / "mix2.png"
    ok(capsys, "stylemix", "--a", "3", "--b", "5", "--layers", "4-9", "--seed", "2", "--out",
       other)
    a = np.asarray(Image.open(other))
    assert np.array_equal(np.asarray(Image.open(cells / "seed=2_layers=4-9.png")), a)
    assert json.loads(ok(capsys, "recipe", cells / "seed=2_layers=4-9.png"))["params"][
        "seed"] == 2
    grid = tmp_path / "grid.png"
    ok(capsys, "sweep", single, "--x", "seed=1,2", "--y", "psi=0.5,1", "--out", grid)
    g = Image.open(grid)
    assert g.width > 2 * 64 and g.height > 2 * 64            # two by two, with labels
    assert json.loads(ok(capsys, "recipe", grid))["task"] == "sweep"
    code, said, err = run(capsys, "replay", grid, "--check")
    assert (code, said.strip()) == (0, "identical"), err


def test_sweep_refusals_and_sound_cells(files, tmp_path, capsys):
    out = tmp_path / "v.wav"
    ok(capsys, "vocode", files / "voice.wav", out, "--vocoder", "griffinlim", "--iters", "4")
    code, _, err = run(capsys, "sweep", out, "--x", "vocoder=griffinlim", "--out",
                       tmp_path / "g.png")
    assert code == 2 and "write its sweep to a folder" in err
    code, _, err = run(capsys, "sweep", out, "--x", "seed", "--out", tmp_path / "d")
    assert code == 2 and "NAME=V1,V2" in err
    code, _, err = run(capsys, "sweep", out, "--x", "psi=1,2", "--out", tmp_path / "d")
    assert code == 2 and "no setting 'psi'" in err and not (tmp_path / "d").exists()
    ok(capsys, "sweep", out, "--x", "iters=2,4", "--out", tmp_path / "d")
    cells = sorted((tmp_path / "d").iterdir())
    assert [c.name for c in cells] == ["iters=2.wav", "iters=4.wav"]
    assert cells[1].read_bytes() == out.read_bytes()        # iters=4 is the run swept
