"""The headless commands, run as a user runs them: a subprocess with no display."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from models import __version__

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, check=True, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    env.update(env_extra or {})
    res = subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def one_line_error(res, needle):
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


@pytest.fixture(scope="module")
def glyph_png(tmp_path_factory):
    """A letter drawn with a font that is not in the training data (Liberation Serif) or,
    failing that, DejaVu; black on white as users draw them."""
    d = tmp_path_factory.mktemp("img")
    candidates = ["/usr/share/fonts/truetype/liberation2/LiberationSerif-Bold.ttf",
                  "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"]
    font = ImageFont.truetype(next(p for p in candidates if Path(p).is_file()), 90)
    out = []
    for ch in "Ag":
        im = Image.new("RGB", (120, 100), "white")
        ImageDraw.Draw(im).text((60, 50), ch, font=font, fill="black", anchor="mm")
        p = d / f"{ch}.png"
        im.save(p)
        out.append(p)
    jpg = d / "photo.jpg"
    Image.new("RGB", (300, 200), (30, 120, 200)).save(jpg)
    out.append(jpg)
    return out


def test_version():
    assert cli("--version").stdout.strip() == f"latent-studio {__version__}"


def test_models_list_json_names_capabilities_and_source():
    models = json.loads(cli("models", "list", "--json").stdout)
    by_name = {m["name"]: m for m in models}
    assert {"vae-glyphs", "vae-emoji"} <= set(by_name)
    assert by_name["vae-glyphs"]["capabilities"] == ["sample", "latent"]
    assert by_name["vae-emoji"]["source"] == "builtin"
    assert by_name["vae-emoji"]["image_shape"] == [64, 64, 3]
    text = cli("models", "list").stdout
    assert "vae-glyphs" in text and "builtin" in text


def test_screenshot_without_a_display(tmp_path):
    out = tmp_path / "shot.png"
    cli("screenshot", out, "--panel", "latent", "--size", "1000x700")
    assert Image.open(out).size == (1000, 700)


@pytest.mark.parametrize("panel", ["latent", "stylemix", "inpaint", "attributes",
                                   "speech_attributes", "spectral",
                                   "evaluation", "models"])
def test_every_panel_fits_1000_px_with_only_a_fresh_machines_fonts(tmp_path, panel):
    """A fresh machine has only DejaVu (what `make test` installs); wider fallback fonts
    must not push the window past the size asked for."""
    conf = tmp_path / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><fontconfig>'
                    "<dir>/usr/share/fonts/truetype/dejavu</dir>"
                    f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    out = tmp_path / "shot.png"
    cli("screenshot", out, "--panel", panel, "--size", "1000x700",
        env_extra={"FONTCONFIG_FILE": str(conf)})
    assert Image.open(out).size == (1000, 700)


def test_bad_arguments_are_one_line_with_status_2(tmp_path):
    one_line_error(cli("frobnicate", check=False), "invalid choice")
    one_line_error(cli("screenshot", tmp_path / "x.png", "--size", "huge", check=False),
                   "size must be WxH")
    one_line_error(cli("screenshot", tmp_path / "x.png", "--panel", "nope", check=False),
                   "no panel named 'nope'")
    one_line_error(cli("screenshot", tmp_path / "x.jpg", check=False), "PNG")
    one_line_error(cli("models", "list", "--checkpoint", tmp_path / "no.safetensors",
                       check=False), "no such file")


def test_reconstruct_many_files_keeps_names(glyph_png, tmp_path):
    out = tmp_path / "rec"
    res = cli("reconstruct", "--model", "vae-glyphs", *glyph_png, "--out-dir", out)
    assert sorted(p.name for p in out.iterdir()) == ["A.png", "g.png", "photo.jpg"]
    assert "inverted" in res.stderr and "framed the glyph" in res.stderr
    assert Image.open(out / "A.png").size == (64, 64)


def test_reconstruct_single_and_errors(glyph_png, tmp_path):
    cli("reconstruct", "--model", "vae-emoji", glyph_png[2], "--out", tmp_path / "r.png")
    assert Image.open(tmp_path / "r.png").mode == "RGB"
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("hello")
    one_line_error(cli("reconstruct", "--model", "vae-glyphs", tmp_path / "empty.png",
                       "--out", tmp_path / "o.png", check=False), "empty")
    one_line_error(cli("reconstruct", "--model", "vae-glyphs", tmp_path / "notes.png",
                       "--out", tmp_path / "o.png", check=False), "not an image")
    one_line_error(cli("reconstruct", "--model", "nope", glyph_png[0], "--out",
                       tmp_path / "o.png", check=False), "no model named 'nope'")
    one_line_error(cli("reconstruct", "--model", "vae-glyphs", *glyph_png[:2], "--out",
                       tmp_path / "o.png", check=False), "need --out-dir")


def test_model_takes_a_checkpoint_path_and_huge_pictures_are_quiet(glyph_png, tmp_path):
    from tests.conftest import make_tiny_vae

    ckpt = make_tiny_vae(tmp_path / "mine", "my-vae", seed=4)
    res = cli("reconstruct", "--model", ckpt, glyph_png[0], "--out", tmp_path / "r.png")
    assert Image.open(tmp_path / "r.png").size == (64, 64)
    big = Image.new("L", (10000, 10000), 255)
    big.paste(0, (7000, 2000, 7600, 2900))
    big.save(tmp_path / "big.png")
    res = cli("reconstruct", "--model", "vae-glyphs", tmp_path / "big.png", "--out",
              tmp_path / "b.png")
    assert "DecompressionBomb" not in res.stderr and "Warning" not in res.stderr
    assert "reduced 10000x10000" in res.stderr and "framed the glyph" in res.stderr
    one_line_error(cli("reconstruct", "--model", tmp_path / "none.safetensors", glyph_png[0],
                       "--out", tmp_path / "o.png", check=False), "no such file")


def test_study_create_refuses_a_damaged_stimulus(image_dirs, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(image_dirs / "b", bad)
    (bad / "03.png").write_bytes((bad / "03.png").read_bytes()[:60])
    res = cli("study", "create", "--type", "mos", "--system", f"A={image_dirs / 'a'}",
              "--system", f"B={bad}", "--out", tmp_path / "s.db", check=False)
    one_line_error(res, "03.png: cannot be decoded")
    assert not list(tmp_path.glob("s.db*"))


def test_interpolate_strip_and_gif(glyph_png, tmp_path):
    cli("interpolate", "--model", "vae-glyphs", glyph_png[0], glyph_png[1], "--steps", "6",
        "--mode", "linear", "--out", tmp_path / "s.png")
    assert Image.open(tmp_path / "s.png").size == (6 * 64 + 5 * 2, 64)
    cli("interpolate", "--model", "vae-glyphs", glyph_png[0], glyph_png[1], "--steps", "10",
        "--out", tmp_path / "a.gif")
    assert Image.open(tmp_path / "a.gif").n_frames == 18
    one_line_error(cli("interpolate", "--model", "vae-glyphs", glyph_png[0], glyph_png[1],
                       "--steps", "1", "--out", tmp_path / "s.png", check=False), "--steps")
    one_line_error(cli("interpolate", "--model", "vae-glyphs", glyph_png[0], glyph_png[1],
                       "--out", tmp_path / "s.bmp", check=False), ".gif")


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sets")
    rng = np.random.default_rng(0)
    for name, shift in (("a", 0), ("b", 60)):
        (d / name).mkdir()
        for i in range(12):
            arr = rng.integers(0, 120, (64, 64, 3)).astype(np.uint8) + shift
            Image.fromarray(arr).save(d / name / f"{i:02d}.png")
    return d


def test_study_create_and_results_with_csv(image_dirs, tmp_path):
    from models.eval.study import Study

    db = tmp_path / "s.db"
    res = cli("study", "create", "--type", "mos", "--system", f"A={image_dirs / 'a'}",
              "--system", f"B={image_dirs / 'b'}", "--out", db)
    assert "2 systems, 12 items" in res.stdout
    s = Study.open(db)
    r = s.start_rater("x", seed=0)
    while (t := s.next_trial(r)) is not None:
        s.rate(t, 4 if t.conditions[0] == "A" else 2)
    s.close()
    out = json.loads(cli("study", "results", db, "--json", "--csv", tmp_path / "r.csv").stdout)
    assert out["mos"]["A"]["mean"] == 4 and out["mos"]["B"]["n"] == 12
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 25
    text = cli("study", "results", db).stdout
    assert "MOS 4.000" in text and "Holm" in text
    one_line_error(cli("study", "create", "--type", "mos", "--system", "nonsense", "--out",
                       tmp_path / "z.db", check=False), "NAME=DIR")
    one_line_error(cli("study", "results", tmp_path / "missing.db", check=False),
                   "no such study file")


def test_metrics_fid_kid_json_saved_to_study(image_dirs, tmp_path):
    db = tmp_path / "s.db"
    cli("study", "create", "--type", "ab", "--system", f"A={image_dirs / 'a'}",
        "--system", f"B={image_dirs / 'b'}", "--out", db)
    out = json.loads(cli("metrics", "fid", image_dirs / "a", image_dirs / "b", "--json",
                         "--study", db).stdout)
    assert out["fid"] > 0 and out["n_a"] == 12 and out["features"] == "inception"
    assert "mean nothing" in out["warning"]
    kid = json.loads(cli("metrics", "kid", image_dirs / "a", image_dirs / "b", "--json",
                         "--features", "glyphs").stdout)
    assert kid["features"] == "glyphs" and "kid" in kid
    saved = json.loads(cli("study", "results", db, "--json").stdout)["metrics"]
    assert any(k.startswith("fid:inception") for k in saved)
    one_line_error(cli("metrics", "fid", tmp_path / "nope", image_dirs / "b", check=False),
                   "no such folder")


# --- vocode and spectrogram ------------------------------------------------------------------

DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="module")
def stereo_44k(tmp_path_factory):
    """Held-out speech as a 44.1 kHz stereo WAV (the rate and layout users' files have)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    x, sr = sf.read(DATA / "unseen-fr4.flac", dtype="float32")
    y = resample_poly(x, 441, 160).astype(np.float32)
    path = tmp_path_factory.mktemp("wav") / "voice.wav"
    sf.write(path, np.stack([y, 0.5 * y], 1), 44100)
    return path


@pytest.mark.parametrize("extra", [[], ["--vocoder", "griffinlim", "--iters", "8"]])
def test_vocode_keeps_rate_and_length(stereo_44k, tmp_path, extra):
    import soundfile as sf

    from models.audio.features import mrstft_distance

    out = tmp_path / "out.wav"
    res = cli("vocode", stereo_44k, out, *extra)
    assert "mixed to mono" in res.stderr
    src, got = sf.info(stereo_44k), sf.info(out)
    assert got.samplerate == 44100 and got.frames == src.frames and got.channels == 1
    y, _ = sf.read(out, dtype="float32")
    x = sf.read(stereo_44k, dtype="float32")[0].mean(axis=1)
    assert mrstft_distance(y, x) < 2.0          # a round trip, not noise or silence
    assert mrstft_distance(np.random.default_rng(0).normal(0, 0.1, x.size), x) > 2.0


def test_vocode_errors_are_one_line(stereo_44k, tmp_path):
    one_line_error(cli("vocode", stereo_44k, tmp_path / "o.wav", "--vocoder", "nope",
                       check=False), "no vocoder named 'nope'")
    from models.protocol import Capability
    from models.registry import default_registry

    default = default_registry().default(Capability.VOCODE)     # the neural one, no iters
    assert default != "griffinlim"
    one_line_error(cli("vocode", stereo_44k, tmp_path / "o.wav", "--iters", "4", check=False),
                   f"'{default}' has no setting 'iters' (its settings: none)")
    one_line_error(cli("vocode", stereo_44k, tmp_path / "o.wav", "--vocoder", "griffinlim",
                       "--param", "iters=many", check=False),
                   "iters takes a number (int), not 'many'")
    one_line_error(cli("vocode", stereo_44k, tmp_path / "o.wav", "--vocoder", "griffinlim",
                       "--iters", "0", check=False), "at least 1")
    (tmp_path / "t.wav").write_text("text")
    one_line_error(cli("vocode", tmp_path / "t.wav", tmp_path / "o.wav", check=False),
                   "not an audio file")
    one_line_error(cli("vocode", stereo_44k, tmp_path / "no" / "o.wav", check=False),
                   "does not exist")


def test_directions_list_and_apply(glyph_png, tmp_path):
    listed = json.loads(cli("directions", "list", "--model", "vae-glyphs", "--json").stdout)
    names = [d["name"] for d in listed["directions"]]
    assert names[:5] == ["bold", "italic", "wide", "serif", "monospace"] and "pc1" in names
    assert listed["directions"][0]["measured"]["monotone"] is True
    from models.image.directions import ink_fraction

    ink = {}
    for amount in ("-2", "0", "2"):
        out = tmp_path / f"a{amount}.png"
        cli("directions", "apply", "--model", "vae-glyphs", glyph_png[0], "--direction", "bold",
            "--amount", amount, "--out", out)
        pic = 1 - np.asarray(Image.open(out).convert("L"), np.float32) / 255  # dark ink
        ink[amount] = float(ink_fraction(pic[None])[0])
    assert ink["-2"] < ink["0"] < ink["2"]
    out = tmp_path / "held.png"
    cli("directions", "apply", "--model", "stylegen-glyphs", glyph_png[0], "--direction",
        "italic", "--amount", "1.5", "--hold", "bold", "--layers", "2-9", "--out", out,
        "--scale", "2")
    assert Image.open(out).size == (128, 128)


def test_directions_errors_are_one_line(glyph_png, tmp_path, tiny_weights):
    out = tmp_path / "o.png"
    one_line_error(cli("directions", "apply", "--model", "vae-glyphs", glyph_png[0],
                       "--direction", "shiny", "--amount", "1", "--out", out, check=False),
                   "no direction named 'shiny'")
    one_line_error(cli("directions", "apply", "--model", "vae-glyphs", glyph_png[0],
                       "--direction", "bold", "--amount", "40", "--out", out, check=False),
                   "between -10 and 10")
    one_line_error(cli("directions", "apply", "--model", "stylegen-glyphs", glyph_png[0],
                       "--direction", "bold", "--amount", "1", "--layers", "3-40", "--out",
                       out, check=False), "layer rows 3-40 are not within 0-9")
    one_line_error(cli("directions", "apply", "--model", "stylegen-glyphs", glyph_png[0],
                       "--direction", "bold", "--amount", "1", "--layers", "x", "--out",
                       out, check=False), "--layers takes A-B")
    one_line_error(cli("directions", "list", "--model", "glyph-classifier", check=False),
                   "has no latent space")
    one_line_error(cli("directions", "list", "--model", tiny_weights / "tiny-vae.safetensors",
                       check=False), "has no directions yet")


def tiny_speech_corpus(folder, voices=("kl-fr", "kl-de")):
    """A speech.npz in the corpus's format: one real test utterance per speaker (held-out
    speech from tests/data), and a training one that must never be picked."""
    from models.audio.io import read_audio

    x = read_audio(DATA / "unseen-fr4.flac", 16000).audio[: 3 * 16000]
    clips = [x * (0.5 + 0.2 * k) for k in range(len(voices))] + [x]
    manifest = ([{"voice": v, "kind": "real", "split": "test"} for v in voices]
                + [{"voice": "train-speaker", "kind": "real", "split": "train"}])
    pcm = np.concatenate(clips)
    np.savez(folder / "speech.npz", pcm=(pcm * 32000).astype(np.int16),
             lengths=np.array([c.size for c in clips]),
             manifest=np.array(json.dumps(manifest)), rate=np.array(16000))
    return folder


def test_metrics_vocoders_compares_on_real_test_speakers_and_bundles_a_study(tmp_path):
    data = tiny_speech_corpus(tmp_path)
    res = cli("metrics", "vocoders", "--out", tmp_path / "rt", "--vocoder", "griffinlim",
              "--per-voice", "1", "--seconds", "2", "--bundle", tmp_path / "study.zip",
              "--json", env_extra={"LATENT_STUDIO_DATA": str(data)})
    out = json.loads(res.stdout)
    gl = out["systems"]["griffinlim"]
    assert sorted(gl["per_voice"]) == ["kl-de", "kl-fr"] and gl["clips"] == 2
    assert 1 <= gl["mean"]["ovrl"] <= 5 and gl["mean"]["mrstft"] > 0
    assert sorted(p.name for p in (tmp_path / "rt" / "original").iterdir()) == [
        "kl-de-0.wav", "kl-fr-0.wav"]
    import zipfile

    names = zipfile.ZipFile(out["bundle"]).namelist()
    assert "study.db" in names and "stimuli/griffinlim/kl-fr-0.flac" in names


def test_metrics_vocoders_errors_are_one_line(tmp_path):
    env = {"LATENT_STUDIO_DATA": str(tmp_path)}
    one_line_error(cli("metrics", "vocoders", "--out", tmp_path / "o", check=False,
                       env_extra=env), "run 'latent-studio data build speech'")
    tiny_speech_corpus(tmp_path)
    one_line_error(cli("metrics", "vocoders", "--out", tmp_path / "o", "--vocoder",
                       "vae-glyphs", check=False, env_extra=env), "'vae-glyphs' is not a vocoder")
    one_line_error(cli("metrics", "vocoders", "--out", tmp_path / "o", "--per-voice", "0",
                       check=False, env_extra=env), "--per-voice")
    one_line_error(cli("metrics", "vocoders", "--out", tmp_path / "o", "--vocoder",
                       "source-filter", "--write-card", "source-filter", check=False,
                       env_extra=env), "needs NAME and griffinlim")


def test_real_voice_section_judges_the_targets_per_speaker():
    from models.eval.vocoders import real_voice_section

    def system(per):
        return {"mean": {k: float(np.mean([p[k] for p in per.values()])) for k in
                         next(iter(per.values()))}, "per_voice": per, "clips": 2 * len(per)}

    res = {"original": system({"a": {"ovrl": 3.0}, "b": {"ovrl": 2.6}}),
           "griffinlim": system({"a": {"ovrl": 2.0, "mrstft": 1.0},
                                 "b": {"ovrl": 2.0, "mrstft": 1.0}}),
           "mine": system({"a": {"ovrl": 2.9, "mrstft": 0.8}, "b": {"ovrl": 2.4, "mrstft": 0.9}})}
    sec = real_voice_section(res, "mine", "griffinlim")
    assert set(sec["summary"]) == {"original", "ours", "griffinlim32"}
    t = sec["targets"]
    assert t["ovrl_at_least_griffinlim_plus_0.2_every_voice"]
    assert t["mrstft_below_griffinlim_every_voice"]
    assert t["ovrl_within_0.3_of_originals"] and t["ovrl_within_0.3_of_originals_every_voice"]
    res["mine"] = system({"a": {"ovrl": 2.9, "mrstft": 0.8}, "b": {"ovrl": 2.1, "mrstft": 1.1}})
    t = real_voice_section(res, "mine", "griffinlim")["targets"]
    assert not t["ovrl_at_least_griffinlim_plus_0.2_every_voice"]
    assert not t["mrstft_below_griffinlim_every_voice"]
    assert not t["ovrl_within_0.3_of_originals_every_voice"]


def test_spectrogram_picture(stereo_44k, tmp_path):
    out = tmp_path / "mel.png"
    cli("spectrogram", stereo_44k, out)
    from models.audio.io import read_audio

    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    frames = read_audio(stereo_44k, 16000).audio.size // 256
    assert img.shape[:2] == (80 * 4, frames * 2)
    # Speech has its energy low: the bottom of the picture is brighter than the top.
    assert img[-80:].mean() > img[:80].mean() + 10


def test_vocode_with_a_users_hifigan_checkpoint(stereo_44k, tmp_path):
    import soundfile as sf

    from tests.models.test_hifigan import reference, write_jik876

    gen = write_jik876(tmp_path / "hifigan", reference("old"))
    listed = json.loads(cli("models", "list", "--json", "--checkpoint", gen).stdout)
    mine = [m for m in listed if m["family"] == "hifigan"]
    assert mine and mine[0]["mel"]["sample_rate"] == 8000 and mine[0]["mel"]["n_mels"] == 20
    out = tmp_path / "o.wav"
    cli("vocode", stereo_44k, out, "--checkpoint", gen)
    assert sf.info(out).samplerate == 44100 and sf.info(out).frames == sf.info(stereo_44k).frames
    (tmp_path / "hifigan" / "config.json").unlink()
    one_line_error(cli("vocode", stereo_44k, out, "--checkpoint", gen, check=False),
                   "config.json")


def _letter(path, ch, stroke=0):
    im = Image.new("RGB", (96, 96), "white")
    ImageDraw.Draw(im).text((48, 48), ch, font=ImageFont.load_default(size=64), fill="black",
                            anchor="mm", stroke_width=stroke, stroke_fill="black")
    im.save(path)
    return path


def test_stylemix_mix_two_sources(glyph_png, tmp_path):
    a, b = glyph_png[0], _letter(tmp_path / "b.png", "k", stroke=4)
    outs = []
    for extra in (["--preset", "coarse"], ["--layers", "2-9"], ["--layers", "0-1", "--psi",
                                                                "0.5", "--seed", "3"]):
        out = tmp_path / f"mix{len(outs)}.png"
        cli("stylemix", "--a", a, "--b", b, *extra, "--out", out)
        outs.append(np.asarray(Image.open(out).convert("L"), np.float32))
        assert outs[-1].shape == (64, 64)
    assert all(np.abs(x - y).mean() > 1.0 for x, y in ((outs[0], outs[1]), (outs[1], outs[2])))
    cli("stylemix", "--a", "7", "--b", "8", "--preset", "fine", "--scale", "2",
        "--out", tmp_path / "seeds.png")
    assert Image.open(tmp_path / "seeds.png").size == (128, 128)


def test_stylemix_content_in_style_pairs_and_text(glyph_png, tmp_path):
    style = [_letter(tmp_path / "n.png", "n", 4), _letter(tmp_path / "e.png", "e", 4)]
    cli("stylemix", "--content", glyph_png[0], "--style", *style, "--out", tmp_path / "c.png")
    assert Image.open(tmp_path / "c.png").size == (64, 64)
    csv = tmp_path / "pairs.csv"
    csv.write_text(f"content,style,out\n{glyph_png[0]},n.png,one.png\n"
                   f"{glyph_png[1]},e.png,two\n")
    res = cli("stylemix", "--pairs", csv, "--out-dir", tmp_path / "pairs")
    assert sorted(p.name for p in (tmp_path / "pairs").iterdir()) == ["one.png", "two.png"]
    assert len(res.stdout.split()) == 2
    cli("stylemix", "--style", style[0], "--text", "Hamburgefonts", "--out", tmp_path / "l.png")
    w, h = Image.open(tmp_path / "l.png").size
    assert h == 64 and 13 * 20 < w < 13 * 64


def test_stylemix_errors_are_one_line(glyph_png, tmp_path):
    out = tmp_path / "x.png"
    a = glyph_png[0]
    for args, needle in (
            (("--a", a, "--b", "3", "--content", a, "--out", out), "give one of"),
            (("--a", a, "--preset", "fine", "--out", out), "needs both --a and --b"),
            (("--a", a, "--b", "3", "--out", out), "--layers 0-3 or --preset"),
            (("--a", a, "--b", "3", "--layers", "0-40", "--out", out), "outside 0-9"),
            (("--a", "nope.png", "--b", "3", "--preset", "fine", "--out", out), "neither a seed"),
            (("--model", "vae-glyphs", "--a", "1", "--b", "2", "--preset", "fine", "--out",
              out), "cannot mix styles"),
            (("--style", a, "--text", "Hi!", "--out", out), "cannot write '!'"),
            (("--content", a, "--out", out), "needs --style")):
        one_line_error(cli("stylemix", *args, check=False), needle)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    one_line_error(cli("stylemix", "--pairs", bad, "--out-dir", tmp_path / "o", check=False),
                   "header 'content,style,out'")
    missing = tmp_path / "missing.csv"
    missing.write_text(f"content,style,out\n{a},gone.png,o.png\n")
    one_line_error(cli("stylemix", "--pairs", missing, "--out-dir", tmp_path / "o",
                       check=False), "line 2: no such picture")


@pytest.fixture(scope="module")
def tiny_diffusion(tmp_path_factory):
    from tests.conftest import make_tiny_diffusion

    return make_tiny_diffusion(tmp_path_factory.mktemp("w"), classes="Ag")


def _mask(path, size=(120, 100), box=(0, 0, 120, 45)):
    m = Image.new("L", size, 0)
    if box is not None:
        ImageDraw.Draw(m).rectangle(box, fill=255)
    m.save(path)
    return path


def test_inpaint_one_picture_and_pairs(glyph_png, tiny_diffusion, tmp_path):
    mask = _mask(tmp_path / "m.png")
    out = tmp_path / "o.png"
    res = cli("inpaint", "--model", tiny_diffusion, glyph_png[0], mask, "--out", out,
              "--steps", "4", "--class", "g", "--guidance", "2", "--seed", "3")
    img = Image.open(out)
    assert img.size == (16, 16) and img.text["class"] == "g" and img.text["seed"] == "3"
    assert img.text["mask"] == "m.png" and "inverted" in res.stderr
    pic = np.asarray(img.convert("L"), np.float32)
    assert pic[12:].mean() > 128           # the unmasked bottom is the picture's own
    csv = tmp_path / "pairs.csv"
    csv.write_text(f"image,mask,out\n{glyph_png[0]},m.png,one.png\n{glyph_png[1]},m.png,two\n")
    res = cli("inpaint", "--model", tiny_diffusion, "--pairs", csv, "--out-dir",
              tmp_path / "pairs", "--repaint", "fast", "--steps", "6")
    assert sorted(p.name for p in (tmp_path / "pairs").iterdir()) == ["one.png", "two.png"]
    assert Image.open(tmp_path / "pairs" / "one.png").text["repaint"] == "fast"
    framed = tmp_path / "framed.png"                # the panel's "Frame as a glyph"
    res = cli("inpaint", "--model", tiny_diffusion, glyph_png[0], mask, "--out", framed,
              "--steps", "4", "--class", "g", "--guidance", "2", "--seed", "3",
              "--frame-glyph")
    assert "framed the glyph" in res.stderr and "framed the glyph" not in cli(
        "inpaint", "--model", tiny_diffusion, glyph_png[0], mask, "--out", out,
        "--steps", "1").stderr


def test_inpaint_errors_are_one_line(glyph_png, tiny_diffusion, tmp_path):
    a, out = glyph_png[0], tmp_path / "x.png"
    mask = _mask(tmp_path / "m.png")
    empty = _mask(tmp_path / "e.png", box=None)
    model = ("--model", tiny_diffusion)
    for args, needle in (
            ((*model, a, "--out", out), "not 1 file(s)"),
            ((*model, a, mask), "--out OUT.png is needed"),
            ((*model, a, empty, "--out", out), "the mask is empty"),
            ((*model, a, mask, "--out", out, "--class", "z"), "not one of this model's: Ag"),
            ((*model, a, mask, "--out", out, "--steps", "500"), "steps must be 1..100"),
            ((*model, a, tmp_path / "gone.png", "--out", out), "gone.png: no such file"),
            ((*model, a, mask, "--out", tmp_path / "no" / "x.png"), "does not exist"),
            (("--model", "vae-glyphs", a, mask, "--out", out), "does not inpaint (it is a vae)"),
            (("--model", "nope", a, mask, "--out", out), "no inpainting model named"),
            ((*model, "--pairs", tmp_path / "p.csv"), "--pairs needs --out-dir")):
        one_line_error(cli("inpaint", *args, check=False), needle)
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    one_line_error(cli("inpaint", *model, "--pairs", bad, "--out-dir", tmp_path / "o",
                       check=False), "header 'image,mask,out'")
    missing = tmp_path / "missing.csv"
    missing.write_text(f"image,mask,out\n{a},gone.png,o.png\n")
    one_line_error(cli("inpaint", *model, "--pairs", missing, "--out-dir", tmp_path / "o",
                       check=False), "line 2: no such picture")


def test_metrics_attributes_measures_control_and_writes_the_card(tmp_path):
    from models.checkpoints import read_card
    from tests.models.test_ancogen import make_tiny_ancogen, make_tiny_generator

    data = tiny_speech_corpus(tmp_path, voices=("kl-fr",))
    ckpt = make_tiny_generator(tmp_path)
    env = {"LATENT_STUDIO_DATA": str(data)}
    res = cli("metrics", "attributes", "--out", tmp_path / "ctl", "--model", ckpt,
              "--vocoder", "griffinlim", "--per-voice", "1", "--seconds", "2",
              "--write-card", "--json", env_extra=env)
    out = json.loads(res.stdout)
    assert out["voices"] == ["kl-fr"] and out["mean"]["clips"] == 1
    assert out["mean"]["pitch_phase_vocoder_shift"] == pytest.approx(3.0, abs=0.5)
    card = read_card(ckpt)
    assert card["measured_control"]["targets"] == out["targets"]
    assert json.loads((tmp_path / "ctl" / "control.json").read_text()) == out
    assert (tmp_path / "ctl" / "pitch_ours" / "00.wav").is_file()
    one_line_error(cli("metrics", "attributes", "--out", tmp_path / "o", "--model",
                       make_tiny_ancogen(tmp_path), check=False, env_extra=env),
                   "analyses only")
    one_line_error(cli("metrics", "attributes", "--out", tmp_path / "o", "--per-voice", "0",
                       check=False, env_extra=env), "--per-voice")


def test_an_inpainting_carries_its_recipe_and_replays_byte_identical(glyph_png, tiny_diffusion,
                                                                     tmp_path):
    mask = _mask(tmp_path / "m.png")
    out = tmp_path / "o.png"
    cli("inpaint", "--model", tiny_diffusion, glyph_png[0], mask, "--out", out, "--steps", "3",
        "--class", "g", "--seed", "5")
    recipe = json.loads(cli("recipe", out).stdout)
    assert recipe["task"] == "inpaint" and recipe["params"]["seed"] == 5
    assert recipe["params"]["label"] == 1 and recipe["model"]["fingerprint"].startswith("sha256")
    assert [i["role"] for i in recipe["inputs"]] == ["picture", "mask"]
    res = cli("replay", out, "--check")
    assert res.stdout.strip() == "identical"
    again = tmp_path / "again.png"                 # from the recipe as JSON, to a new file
    (tmp_path / "r.json").write_text(json.dumps(recipe))
    cli("replay", tmp_path / "r.json", "--out", again)
    assert again.read_bytes() == out.read_bytes()
    # An input that changed is named; --allow-changed runs it anyway, and it differs.
    _mask(mask, box=(0, 50, 120, 100))
    one_line_error(cli("replay", out, "--check", check=False),
                   f"mask {mask}: its content has changed since the recipe was made")
    res = cli("replay", out, "--check", "--allow-changed", check=False)
    assert res.returncode == 1 and res.stdout.strip() == "different"
    other = tmp_path / "other.png"                 # a picture no recipe came with
    Image.new("RGB", (8, 8)).save(other)
    one_line_error(cli("recipe", other, check=False), "carries no Latent Studio recipe")
    (tmp_path / "list.json").write_text("[1, 2]")
    one_line_error(cli("replay", tmp_path / "list.json", check=False),
                   "a recipe is a JSON object, not a list")
