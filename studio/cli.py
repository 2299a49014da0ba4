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
    db.add_argument("name", choices=("glyphs", "emoji", "speech"))
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
    tsg.add_argument("--data", choices=("glyphs", "emoji"), default="glyphs")
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
    tdf.add_argument("--data", choices=("glyphs", "emoji"), default="glyphs")
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

    atp = sub.add_parser("attributes", help="speech attributes: pitch, loudness, SNR, C50")
    atsub = atp.add_subparsers(dest="attributes_command", required=True, parser_class=_Parser)
    aa = atsub.add_parser("analyze", help="per-frame pitch and loudness, per-clip SNR and C50")
    aa.add_argument("input", type=Path, metavar="IN.wav")
    aa.add_argument("--model", default=None, metavar="NAME|FILE",
                    help="attribute model (default: the shipped one)")
    aa.add_argument("--json", action="store_true", help="everything as JSON (curves too)")
    ae = atsub.add_parser("edit", help="change a recording's pitch, loudness, SNR or C50 "
                          "(the same words): in the recording itself, or regenerated by the "
                          "model through the vocoder")
    ae.add_argument("input", type=Path, metavar="IN.wav")
    ae.add_argument("output", type=Path, metavar="OUT.wav")
    ae.add_argument("--pitch-semitones", type=float, default=0.0, metavar="X",
                    help="pitch change, semitones (relative)")
    ae.add_argument("--loudness-db", type=float, default=0.0, metavar="X",
                    help="loudness change, dB (relative)")
    ae.add_argument("--snr-db", type=float, default=None, metavar="TARGET",
                    help="speech-to-noise ratio to reach, dB (50: clean)")
    ae.add_argument("--c50-db", type=float, default=None, metavar="TARGET",
                    help="clarity to reach, dB (42: dry; lower: more reverberant)")
    ae.add_argument("--model", default=None, metavar="NAME|FILE",
                    help="attribute model (default: the shipped one)")
    ae.add_argument("--vocoder", default=None, metavar="NAME|FILE",
                    help="vocoder (default: the shipped default)")
    ae.add_argument("--regenerate", action="store_true",
                    help="regenerate the whole clip through the model and the vocoder "
                         "(default: keep the recording, shift and filter it; adding noise "
                         "or room always regenerates)")
    ae.add_argument("--move-formants", action="store_true",
                    help="let the vowels' formants move with the pitch (default: kept)")

    dr = sub.add_parser("directions", help="move pictures along a latent model's directions")
    drsub = dr.add_subparsers(dest="directions_command", required=True, parser_class=_Parser)
    dl = drsub.add_parser("list", help="the directions of a model, with their measurements")
    dl.add_argument("--model", required=True, metavar="NAME|FILE")
    dl.add_argument("--json", action="store_true")
    da = drsub.add_parser("apply", help="encode a picture, step along a direction, decode")
    da.add_argument("input", type=Path, metavar="IN.png")
    da.add_argument("--model", required=True, metavar="NAME|FILE")
    da.add_argument("--direction", required=True, help="e.g. bold, italic, wide, pc1")
    da.add_argument("--amount", type=float, required=True,
                    help="steps (one step: one standard deviation of the data along it)")
    da.add_argument("--hold", action="append", default=[], metavar="DIRECTION",
                    help="keep this direction unchanged while editing (repeat)")
    da.add_argument("--layers", default=None, metavar="A-B",
                    help="style models: the layer rows to move (default: the direction's own)")
    da.add_argument("--out", type=Path, required=True, metavar="OUT.png")
    da.add_argument("--scale", type=int, default=1, help="enlarge the written picture")

    vo = sub.add_parser("vocode", help="analyse a recording to a mel and vocode it back")
    vo.add_argument("input", type=Path, metavar="IN.wav")
    vo.add_argument("output", type=Path, metavar="OUT.wav")
    vo.add_argument("--vocoder", default=None,
                    help="model name or weights file (default: resources/weights/"
                         "defaults.json's; 'source-filter', 'vocoder-speech', 'vocoder-real', "
                         "'griffinlim')")
    vo.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the vocoder (see 'models list --json': params)")
    vo.add_argument("--iters", help="short for --param iters=N (Griffin-Lim's iterations)")
    vo.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                    help="vocode with this checkpoint (e.g. a HiFi-GAN generator with its "
                         "config.json beside it)")

    sp = sub.add_parser("spectrogram", help="picture of the mel spectrogram of a recording")
    sp.add_argument("input", type=Path, metavar="IN.wav")
    sp.add_argument("output", type=Path, metavar="OUT.png")
    sp.add_argument("--vocoder", default=None, help="whose mel settings to use")

    me = sub.add_parser("metrics", help="objective metrics of image sets and speech")
    mesub = me.add_subparsers(dest="metric", required=True, parser_class=_Parser)
    for name, text in (("fid", "Frechet distance between two image folders"),
                       ("kid", "kernel distance between two image folders")):
        m = mesub.add_parser(name, help=text)
        m.add_argument("dir_a", type=Path)
        m.add_argument("dir_b", type=Path)
        m.add_argument("--features", choices=("inception", "glyphs"), default="inception")
        m.add_argument("--limit", type=int, help="use at most this many images per folder")
        m.add_argument("--json", action="store_true")
        m.add_argument("--study", type=Path, help="also save the figure in this study")
    m = mesub.add_parser("is", help="Inception Score of one folder (glyph classifier)")
    m.add_argument("dir", type=Path)
    m.add_argument("--features", choices=("glyphs",), default="glyphs",
                   help="the shipped InceptionV3 has no class head; IS uses the glyph classes")
    m.add_argument("--limit", type=int)
    m.add_argument("--json", action="store_true")
    m.add_argument("--study", type=Path)
    m = mesub.add_parser("dnsmos", help="DNSMOS SIG/BAK/OVRL of speech files")
    m.add_argument("target", type=Path, metavar="FILE_OR_DIR")
    m.add_argument("--json", action="store_true")
    m.add_argument("--study", type=Path)

    m = mesub.add_parser("attributes", help="control of speech attributes on the real test "
                         "speakers: pitch shift (against librosa's phase vocoder and WORLD), "
                         "SNR target on noisy speech, loudness; measured with pYIN and DNSMOS")
    m.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where every edited clip is written (one folder per condition)")
    m.add_argument("--model", default=None, metavar="NAME|FILE",
                   help="attribute model (default: the shipped one)")
    m.add_argument("--vocoder", default=None, metavar="NAME|FILE")
    m.add_argument("--per-voice", type=int, default=2, help="clips per test speaker")
    m.add_argument("--seconds", type=float, default=4.0, help="longest clip")
    m.add_argument("--write-card", action="store_true",
                   help="also write the figures into the model's card (measured_control)")
    m.add_argument("--json", action="store_true")

    m = mesub.add_parser("vocoders", help="round trips of the speech corpus's real test "
                         "speakers through vocoders: MR-STFT, mel distance, DNSMOS")
    m.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="where the round trips are written (one folder per system)")
    m.add_argument("--vocoder", action="append", default=[], metavar="NAME|FILE",
                   help="a vocoder to compare, by name or weights file (repeat; default: "
                        "every registered one, Griffin-Lim at 32 iterations)")
    m.add_argument("--per-voice", type=int, default=6, help="clips per test speaker")
    m.add_argument("--seconds", type=float, default=4.0, help="longest clip")
    m.add_argument("--bundle", type=Path, metavar="BUNDLE.zip",
                   help="also make a blind MUSHRA study of the round trips (original as the "
                        "hidden reference) and export it as a bundle for raters")
    m.add_argument("--bundle-per-voice", type=int, default=1,
                   help="clips per speaker in the study")
    m.add_argument("--write-card", metavar="NAME", default=None,
                   help="write the figures into NAME's model card (measured_real_voices; "
                        "NAME against Griffin-Lim); NAME must be one of the compared "
                        "vocoders, and griffinlim too")
    m.add_argument("--json", action="store_true")

    st = sub.add_parser("study", help="blind listening and viewing tests")
    ssub = st.add_subparsers(dest="study_command", required=True, parser_class=_Parser)
    sc = ssub.add_parser("create", help="make a study from system folders")
    sc.add_argument("--type", choices=("mos", "ab", "mushra"), required=True)
    sc.add_argument("--system", action="append", required=True, metavar="NAME=DIR")
    sc.add_argument("--reference", default="", help="MUSHRA: the reference system's name")
    sc.add_argument("--title", default="")
    sc.add_argument("--rate-before-play", action="store_true",
                    help="sound: count a rating even before the sample played to its end "
                    "(by default the panel opens rating only after it played)")
    sc.add_argument("--out", type=Path, required=True, metavar="STUDY.db")
    sr = ssub.add_parser("results", help="statistics of a study")
    sr.add_argument("study", type=Path, metavar="STUDY.db")
    sr.add_argument("--csv", type=Path, metavar="OUT.csv", help="every rating, one a row")
    sr.add_argument("--json", action="store_true")
    sx = ssub.add_parser("export", help="bundle a study with its stimuli for other raters")
    sx.add_argument("study", type=Path)
    sx.add_argument("out", type=Path, metavar="BUNDLE.zip")
    si = ssub.add_parser("import", help="unpack a bundle to rate it here")
    si.add_argument("bundle", type=Path)
    si.add_argument("folder", type=Path)
    sm = ssub.add_parser("merge", help="add the ratings of other copies of a study")
    sm.add_argument("study", type=Path)
    sm.add_argument("others", type=Path, nargs="+")

    rc = sub.add_parser("reconstruct", help="encode then decode images with a latent model")
    rc.add_argument("--model", required=True, help="a model name or a checkpoint file")
    rc.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    rc.add_argument("--config", help="the configs a single-file Stable Diffusion checkpoint or "
                    "VAE takes: a diffusers folder or a shipped base (sd15, sdxl, ...)")
    g = rc.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", type=Path, help="output picture (one input)")
    g.add_argument("--out-dir", type=Path, help="folder; each output keeps its input's name")

    ip = sub.add_parser("interpolate", help="decode a path between two images")
    ip.add_argument("--model", required=True, help="a model name or a checkpoint file")
    ip.add_argument("a", metavar="A", help="a picture, or a seed of a model that samples")
    ip.add_argument("b", metavar="B", help="a picture, or a seed")
    ip.add_argument("--config", help="the configs a single-file Stable Diffusion checkpoint or "
                    "VAE takes: a diffusers folder or a shipped base (sd15, sdxl, ...)")
    ip.add_argument("--steps", type=int, default=8)
    ip.add_argument("--mode", choices=("linear", "slerp"), default="slerp")
    ip.add_argument("--out", type=Path, required=True, help="strip.png or anim.gif")
    ip.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=None,
                    help="enlarge each frame (default: 1 for a strip, 2 for a GIF)")
    ip.add_argument("--smooth", action="store_true",
                    help="enlarge smoothly (bicubic) instead of in pixel blocks")

    sx = sub.add_parser("stylemix", help="mix the styles of two pictures or seeds, or draw "
                        "characters in the style of a few glyphs")
    sx.add_argument("--model", default="stylegen-glyphs",
                    help="a style generator's name or checkpoint file")
    sx.add_argument("--a", metavar="A.png|SEED", help="source A: a picture or a seed")
    sx.add_argument("--b", metavar="B.png|SEED", help="source B: a picture or a seed")
    cross = sx.add_mutually_exclusive_group()
    cross.add_argument("--layers", help="rows of W+ that take B's codes, e.g. 0-3 or 2,5")
    cross.add_argument("--preset", choices=("coarse", "middle", "fine", "style", "content"),
                       help="named rows that take B's codes")
    sx.add_argument("--content", type=Path, metavar="A.png",
                    help="the character to draw (with --style)")
    sx.add_argument("--style", type=Path, nargs="+", metavar="B.png",
                    help="one or more glyphs of the style to draw in")
    sx.add_argument("--text", help="text to write in the --style (one line)")
    sx.add_argument("--pairs", type=Path, metavar="PAIRS.csv",
                    help="CSV with header content,style,out: one picture per row")
    sx.add_argument("--psi", type=float, default=1.0, help="truncation (1: none, 0: the mean)")
    sx.add_argument("--strength", type=float, default=1.0,
                    help="style strength with --style (1: the glyphs' style, 0: the mean font)")
    sx.add_argument("--cutoff", type=int, default=None,
                    help="truncate only rows below this one (default: all)")
    sx.add_argument("--seed", type=int, default=None,
                    help="noise seed (default: no per-layer noise; a StyleGAN pickle's own "
                         "fixed noise)")
    sx.add_argument("--class", dest="klass", type=int, default=0, metavar="C",
                    help="the class seeds are drawn from (a conditional model)")
    sx.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=1,
                    help="enlarge the result in pixel blocks")
    sx.add_argument("--out", type=Path, help="output picture")
    sx.add_argument("--out-dir", type=Path, help="output folder (with --pairs)")

    ip = sub.add_parser("inpaint", help="repaint the masked part of a picture with a "
                        "diffusion model")
    ip.add_argument("--model", default="diffusion-glyphs",
                    help="an inpainting model's name or checkpoint (a diffusers UNet or "
                    "pipeline folder too)")
    ip.add_argument("inputs", type=Path, nargs="*", metavar="IN.png MASK.png",
                    help="the picture and its mask (white = repaint, any size)")
    ip.add_argument("--pairs", type=Path, metavar="PAIRS.csv",
                    help="CSV with header image,mask,out: one result per row, one model load")
    ip.add_argument("--steps", type=int, default=0,
                    help="denoising steps (default: the --repaint preset's, 50 or 250; "
                    "Stable Diffusion 25)")
    ip.add_argument("--sampler", choices=("ddim", "ddpm"), default="ddim")
    ip.add_argument("--guidance", type=float, default=None,
                    help="classifier-free guidance scale: with --class for the studio's models "
                    "(default 1; 0 ignores the class), of the prompt for Stable Diffusion "
                    "(default 7.5)")
    ip.add_argument("--class", dest="label", metavar="C",
                    help="the class to paint (a glyph character, e.g. g); default none")
    ip.add_argument("--seed", type=int, default=0)
    ip.add_argument("--repaint", choices=("none", "fast", "quality"), default="none",
                    help="RePaint resampling: fast 50 steps, jump 5, 5 resamplings (230 "
                    "network calls); quality 250/10/10 (2,410)")
    ip.add_argument("--feather", type=float, default=1.5,
                    help="width in pixels of the blend at the mask's edge")
    ip.add_argument("--frame-glyph", action="store_true",
                    help="glyph models: find the glyph in the picture and frame it as the "
                    "data set frames its glyphs, the mask moved with it (the panel's 'Frame "
                    "as a glyph'); without it the picture is centre-cropped and resized")
    ip.add_argument("--scale", type=int, choices=(1, 2, 4, 8), default=1,
                    help="enlarge the result in pixel blocks")
    ip.add_argument("--out", type=Path, help="output picture (PNG keeps the options)")
    ip.add_argument("--out-dir", type=Path, help="output folder (with --pairs)")
    _prompt_arguments(ip, inpaint=True)

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
    ge = sub.add_parser("generate", help="text-to-image (or img2img with --image) with a "
                        "Stable Diffusion checkpoint")
    ge.add_argument("--model", required=True, metavar="PATH",
                    help="a diffusers folder, an original-layout .safetensors or a .ckpt")
    ge.add_argument("--steps", type=int, default=25)
    ge.add_argument("--guidance", type=float, default=7.5)
    ge.add_argument("--seed", type=int, default=0)
    ge.add_argument("--image", type=Path, metavar="IN.png",
                    help="start from this picture (img2img, at its own size)")
    ge.add_argument("--out", type=Path, required=True,
                    help="output PNG (with --batch N: OUT-1.png, OUT-2.png, ...)")
    _prompt_arguments(ge, inpaint=False)
    return p


def _prompt_arguments(p: argparse.ArgumentParser, inpaint: bool) -> None:
    """The options of a Stable Diffusion run (generate, and inpaint with such a model)."""
    from models.tasks.generate import SCHEDULER_NAMES

    p.add_argument("--prompt", default=None, help="what to paint (Stable Diffusion)")
    p.add_argument("--negative", default="", help="what not to paint")
    p.add_argument("--scheduler", choices=SCHEDULER_NAMES, default="default",
                   help="the model's own (default) or another diffusers scheduler")
    p.add_argument("--width", type=int, default=0,
                   help="width in pixels (default: the picture's own, or the model's native)")
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--strength", type=float, default=None,
                   help="how much of the picture is repainted, 0-1 (default 1 to inpaint, "
                   "0.75 for img2img)")
    p.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]",
                   help="a LoRA .safetensors (diffusers or kohya keys), weight 1 by default; "
                   "repeat for several")
    p.add_argument("--embedding", action="append", default=[], metavar="FILE",
                   help="a textual-inversion embedding; its file name (without extension) "
                   "is the word that calls it in the prompt; repeat for several")
    p.add_argument("--config", default=None, metavar="FOLDER|BASE",
                   help="the diffusers folder (or shipped base: sd15, sd15-inpaint, sd2-base, "
                   "sd2-v, sd2-inpaint, sdxl, sdxl-inpaint) whose configs a single-file "
                   "checkpoint takes (default: the base its keys and shapes show)")
    p.add_argument("--batch", type=int, default=1, help="pictures to make (seeds S, S+1, ...)")
    p.add_argument("--precision", choices=("auto", "float32", "float16", "bfloat16"),
                   default="auto", help="float16 on a GPU by default, float32 on the CPU")
    p.add_argument("--offload", action="store_true",
                   help="keep the model on the CPU and move each part to the GPU in turn")
    p.add_argument("--attention-slicing", action="store_true",
                   help="compute attention in slices: less memory, a little slower")
    if inpaint:
        p.add_argument("--mask-blur", type=float, default=4.0, metavar="PX",
                       help="feather the paste of the result inward (Stable Diffusion)")
        p.add_argument("--only-masked", action="store_true",
                       help="work on a crop around the mask at the model's native size")
        p.add_argument("--padding", type=int, default=32, metavar="PX",
                       help="context around the mask with --only-masked")


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
    except CLIError as exc:
        print(f"latent-studio: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
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
    from models.data import build_dataset

    print(json.dumps(build_dataset(args.name, args.out, seed=args.seed)))
    return 0


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
        out = args.out or WEIGHTS_DIR / f"stylegen-{args.data}.safetensors"
        cfg = stylegen.TrainConfig(data=args.data, minutes=args.minutes, batch=args.batch,
                                   adv_weight=args.adv_weight, max_steps=args.max_steps,
                                   lr=args.lr, init=args.init, seed=args.seed)
        card = stylegen.train(cfg, out, log=lambda line: print(line, flush=True),
                              measure_after=not args.no_measure)
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
        out = args.out or WEIGHTS_DIR / f"diffusion-{args.data}.safetensors"
        card = diffusion.train(diffusion.TrainConfig(
            data=args.data, ae_minutes=args.ae_minutes, minutes=args.minutes,
            batch=args.batch, max_steps=args.max_steps, seed=args.seed), out, log=log)
        if not args.no_measure and args.data == "glyphs":
            card = diffusion.measure(out, cases=args.cases, log=log)
        print(json.dumps({"weights": str(out), "training": {
            k: card["training"][k] for k in ("autoencoder_steps", "unet_steps")},
            "metrics": card["metrics"]}))
        return 0
    if args.train_command == "classifier":
        from models.train import classifier

        out = args.out or WEIGHTS_DIR / "glyph-classifier.safetensors"
        card = classifier.train(out, epochs=args.epochs, seed=args.seed,
                                log=lambda line: print(line, flush=True))
        print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
        return 0
    from models.train.vae import TrainConfig, train

    cfg = TrainConfig(data=args.data, epochs=args.epochs, batch=args.batch, lr=args.lr,
                      beta=args.beta, anneal_epochs=args.anneal_epochs,
                      latent_dim=args.latent_dim, width=args.width, seed=args.seed)
    out = args.out or WEIGHTS_DIR / f"vae-{args.data}.safetensors"
    card = train(cfg, out, log=lambda line: print(line, flush=True))
    print(json.dumps({"weights": str(out), "metrics": card["metrics"]}))
    return 0


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


def _end(text: str, what: str) -> tuple[object, dict]:
    """A seed (a whole number that is not a file) as a param, or a picture as an input."""
    end = _seed_or_path(text)
    if isinstance(end, int):
        return end, {}
    if not end.is_file():
        raise CLIError(f"{what} '{text}' is neither a seed (a whole number) nor a picture file")
    return "picture", {what.lstrip("-"): end}


def cmd_reconstruct(args: argparse.Namespace) -> int:
    if args.out is not None and len(args.inputs) > 1:
        raise CLIError(f"{len(args.inputs)} inputs need --out-dir, not --out")

    reg, model = _latent_model(args.model, args.config)
    info = reg.info(model)
    params = {"config": str(args.config) if args.config else ""}
    if args.out is not None:
        outs = [args.out]
    else:
        names = [p.name for p in args.inputs]
        if len(set(names)) != len(names):
            raise CLIError("two inputs share a file name; --out-dir keeps names, so rename one")
        args.out_dir.mkdir(parents=True, exist_ok=True)
        outs = [args.out_dir / p.name for p in args.inputs]
        outs = [o if o.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif") else
                o.with_suffix(".png") for o in outs]
    for p in args.inputs:
        if not p.is_file():
            raise CLIError(f"{p}: no such file")
    for p, out in zip(args.inputs, outs):   # each at its own size where the latent follows it
        _run_recipe(reg, _recipe("reconstruct", params, info, {"picture": p}), out)
        print(out)
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise CLIError(f"{args.out}: write a strip (.png) or an animation (.gif)")
    if not 2 <= args.steps <= 512:
        raise CLIError(f"--steps must be between 2 and 512, got {args.steps}")
    reg, model = _latent_model(args.model, args.config)
    (a, ia), (b, ib) = _end(args.a, "a"), _end(args.b, "b")
    params = {"a": a, "b": b, "steps": args.steps, "mode": args.mode,
              "scale": args.scale or (2 if suffix == ".gif" else 1), "smooth": args.smooth,
              "config": str(args.config) if args.config else ""}
    _run_recipe(reg, _recipe("interpolate", params, reg.info(model), {**ia, **ib}), args.out)
    print(args.out)
    return 0


def _seed_or_path(text: str) -> int | Path:
    """A whole number that is not a file: a seed; otherwise a picture's path."""
    path = Path(text).expanduser()
    if text.lstrip("-").isdigit() and not path.exists():
        return int(text)
    return path


def _save_to_study(path: Path | None, name: str, value) -> None:
    if path is not None:
        from models.eval.study import Study

        study = Study.open(path)
        study.save_metric(name, value)
        study.close()


def cmd_metrics(args: argparse.Namespace) -> int:
    from models.tasks.metrics import compute_metric, metric_value

    if args.metric == "vocoders":
        return _compare_vocoders(args)
    if args.metric == "attributes":
        return _measure_attribute_control(args)
    if args.metric == "dnsmos":
        result = compute_metric(_registry(), "dnsmos", args.target)
        key = f"dnsmos:{args.target.name}"
        lines = [f"{r['file']}: SIG {r['sig']:.2f}  BAK {r['bak']:.2f}  OVRL {r['ovrl']:.2f}"
                 for r in result["files"]] + [f"mean: {metric_value(result)}"]
    elif args.metric == "is":
        result = compute_metric(_registry(), "is", args.dir, limit=args.limit)
        key = f"is:{args.dir.name}"
        lines = [f"IS {metric_value(result)}"]
    else:
        result = compute_metric(_registry(), args.metric, args.dir_a, args.dir_b,
                                args.features, args.limit)
        key = f"{args.metric}:{args.features}:{args.dir_a.name}~{args.dir_b.name}"
        lines = [f"{args.metric.upper()} {metric_value(result)}"]
    if result.get("warning"):
        print(f"latent-studio: warning: {result['warning']}", file=sys.stderr)
    _save_to_study(args.study, key, result)
    print(json.dumps(result, indent=2) if args.json else "\n".join(lines))
    return 0


def _real_test_voices(per_voice: int, seconds: float) -> dict:
    """Clips of the speech corpus's real test speakers (never heard in training)."""
    from models.data import cache_dir, speech
    from models.eval.vocoders import test_clips

    path = cache_dir() / "speech.npz"
    if not path.is_file():
        raise CLIError(f"{path} not found; run 'latent-studio data build speech'")
    clips, manifest = speech.load(path)
    voices = test_clips(clips, manifest, kind="real", per_voice=per_voice, seconds=seconds)
    if not voices:
        raise CLIError(f"{path}: no real test speakers; rebuild it with "
                       "'latent-studio data build speech'")
    return voices


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


def _measure_attribute_control(args: argparse.Namespace) -> int:
    from models.checkpoints import card_path, read_card
    from models.eval.attributes import measure_control

    if args.per_voice < 1 or args.seconds < 1:
        raise CLIError("--per-voice takes 1 or more, --seconds 1 or more")
    reg = _registry()
    name = _attribute_model(reg, args.model)
    backend = reg.get(name, "cpu")
    if not getattr(backend, "can_generate", False):
        raise CLIError(f"'{name}' analyses only; there is no control to measure")
    vreg, vname = _vocoder(args.vocoder)
    voices = _real_test_voices(args.per_voice, args.seconds)
    chosen = [x for v in voices.values() for x in v if x.size >= 16000]
    res = measure_control(backend, vreg.get(vname, "cpu"), chosen, args.out,
                          log=lambda line: print(line, file=sys.stderr, flush=True))
    res["vocoder"] = vname
    res["voices"] = sorted(voices)
    from models.files import write_whole

    write_whole(args.out / "control.json", (json.dumps(res, indent=2) + "\n").encode())
    if args.write_card:
        weights = Path(reg.info(name).path)
        card = read_card(weights)
        card["measured_control"] = res
        write_whole(card_path(weights), (json.dumps(card, indent=2) + "\n").encode())
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    for key, v in res["mean"].items():
        print(f"{key:40s} {v}")
    for key, ok in res["targets"].items():
        print(f"{key:40s} {'met' if ok else 'NOT met'}")
    return 0


def _compare_vocoders(args: argparse.Namespace) -> int:
    from models.eval.vocoders import compare, listening_study
    from models.protocol import Capability

    if args.per_voice < 1 or args.seconds < 1 or args.bundle_per_voice < 1:
        raise CLIError("--per-voice and --bundle-per-voice take 1 or more, --seconds 1 or more")
    voices = _real_test_voices(args.per_voice, args.seconds)
    reg = _registry()
    names = [_resolve_model(reg, n, "vocoder", Capability.VOCODE) for n in args.vocoder]
    names = list(dict.fromkeys(names)) or [i.name for i in reg.infos(Capability.VOCODE)]
    for n in names:
        if Capability.VOCODE not in reg.info(n).capabilities:
            raise CLIError(f"'{n}' is not a vocoder")
    backends = {n: reg.get(n, "cpu") for n in names}
    settings = {b.info.mel for b in backends.values()}
    if len(settings) > 1:
        raise CLIError("these vocoders use different mel settings; compare them one group "
                       "at a time")
    if args.write_card is not None:
        if args.write_card not in backends or "griffinlim" not in backends:
            raise CLIError("--write-card NAME needs NAME and griffinlim among the compared "
                           "vocoders")
        if reg.info(args.write_card).source != "builtin":
            raise CLIError(f"'{args.write_card}' is not a shipped model; its card is not ours "
                           "to write")
    res = compare(backends, voices, settings.pop(), args.out)
    if args.write_card is not None:
        _write_real_voice_card(reg, args.write_card, res)
    bundle = None
    if args.bundle is not None:
        bundle = listening_study(args.out, list(backends), args.bundle.with_suffix(".db"),
                                 args.bundle, per_voice=args.bundle_per_voice)
    if args.json:
        print(json.dumps({"systems": res, "bundle": str(bundle) if bundle else None},
                         indent=2))
        return 0
    for name, r in res.items():
        m = r["mean"]
        print(f"{name:24s} OVRL {m['ovrl']:.2f}  SIG {m['sig']:.2f}  BAK {m['bak']:.2f}"
              + (f"  MR-STFT {m['mrstft']:.3f}  mel {m['mel']:.3f}" if "mrstft" in m else ""))
    if bundle:
        print(bundle)
    return 0


def _write_real_voice_card(reg, name: str, res: dict) -> None:
    """``measured_real_voices`` into a shipped vocoder's card (a weightless one's card is
    resources/weights/NAME.json)."""
    from models.checkpoints import card_path, read_card
    from models.eval.vocoders import real_voice_section
    from models.registry import WEIGHTS_DIR

    info = reg.info(name)
    path = card_path(Path(info.path)) if info.path else WEIGHTS_DIR / f"{name}.json"
    card = (read_card(Path(info.path)) if info.path else
            json.loads(path.read_text()) if path.is_file() else {})
    section = real_voice_section(res, name, "griffinlim")
    section["command"] = ("latent-studio metrics vocoders --out DIR "
                          + " ".join(f"--vocoder {n}" for n in res if n != "original")
                          + f" --write-card {name}")
    card["measured_real_voices"] = section
    from models.files import write_whole

    write_whole(path, (json.dumps(card, indent=2) + "\n").encode())


def cmd_study(args: argparse.Namespace) -> int:
    from models.eval.study import Study, json_safe

    if args.study_command == "create":
        systems = {}
        for spec in args.system:
            name, sep, folder = spec.partition("=")
            if not sep or not name or not folder:
                raise CLIError(f"--system takes NAME=DIR, not '{spec}'")
            if name in systems:
                raise CLIError(f"system '{name}' is given twice")
            systems[name] = Path(folder)
        study = Study.create(args.out, args.type, systems, title=args.title,
                             must_play=not args.rate_before_play,
                             reference=args.reference)
        print(f"{args.out}: {args.type} study, {len(study.systems)} systems, "
              f"{len(study.items)} items")
        return 0
    if args.study_command == "import":
        study = Study.import_bundle(args.bundle, args.folder)
        print(study.path)
        return 0
    study = Study.open(args.study)
    try:
        if args.study_command == "export":
            print(study.export_bundle(args.out))
        elif args.study_command == "merge":
            for other in args.others:
                added = study.merge(other)
                print(f"{other}: added {', '.join(added) if added else 'no raters'}")
        else:
            res = study.results()
            if args.csv:
                study.write_csv(args.csv)
            print(json.dumps(json_safe(res), indent=2, allow_nan=False) if args.json
                  else _format_results(res))
    finally:
        study.close()
    return 0


def _format_results(res: dict) -> str:
    lines = [f"{res['kind']} study: {res['raters']} raters, {res['ratings']} ratings"]
    for name, m in res.get("mos", {}).items():
        lines.append(f"  {name:20s} MOS {m['mean']:.3f}  95% CI [{m['ci95'][0]:.3f}, "
                     f"{m['ci95'][1]:.3f}]  n={m['n']}")
    for p in res.get("preferences", []):
        lines.append(f"  {p['a']} vs {p['b']}: {p['wins_a']}-{p['wins_b']} "
                     f"({p['ties']} no preference), share {p['share_a']:.3f} "
                     f"95% CI [{p['ci95'][0]:.3f}, {p['ci95'][1]:.3f}], p={p['p']:.4f}")
    for name, b in res.get("mushra", {}).items():
        lines.append(f"  {name:20s} median {b['median']:.1f}  IQR [{b['q1']:.1f}, "
                     f"{b['q3']:.1f}]  mean {b['mean']:.1f}")
    if res.get("excluded_raters"):
        lines.append(f"  excluded by post-screening: {', '.join(res['excluded_raters'])}")
    for p in res.get("pairwise", []):
        star = " *" if p["significant"] else ""
        lines.append(f"  {p['a']} vs {p['b']}: Mann-Whitney p={p['p']:.4g}, "
                     f"Holm p={p['p_holm']:.4g}{star}")
    return "\n".join(lines)


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


def cmd_stylemix(args: argparse.Namespace) -> int:
    from models.tasks import stylemix as sm

    modes = [m for m, on in (("--a/--b", args.a is not None or args.b is not None),
                             ("--content", args.content is not None),
                             ("--text", args.text is not None),
                             ("--pairs", args.pairs is not None)) if on]
    if len(modes) != 1:
        raise CLIError("give one of --a A --b B (a mix), --content A --style B (a character "
                       "in a style), --style B --text TEXT, or --pairs PAIRS.csv"
                       + (f"; got {' and '.join(modes)}" if modes else ""))
    reg = _registry()
    name = _resolve_model(reg, args.model)
    try:
        sm.style_model(reg, name)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.pairs is None and args.out is None:
        raise CLIError("--out OUT.png is needed")
    spec = reg.info(name).style
    info = reg.info(name)
    mode = modes[0]
    common = {"psi": args.psi, "scale": args.scale}
    if mode == "--a/--b":
        if args.a is None or args.b is None:
            raise CLIError("a mix needs both --a and --b")
        if args.layers is not None:
            try:
                layers = ",".join(map(str, sm.parse_layers(args.layers, spec.layers)))
            except ValueError as exc:
                raise CLIError(str(exc)) from None
        elif args.preset is not None:
            from_b = sm.presets(spec).get(args.preset, ())
            if not from_b:
                raise CLIError(f"this model has no '{args.preset}' rows")
            layers = ",".join(map(str, from_b))
        else:
            raise CLIError("say which rows take B's codes: --layers 0-3 or --preset coarse")
        classes = info.classes
        if args.klass and not 0 <= args.klass < len(classes):
            raise CLIError(f"--class {args.klass}: {name} has "
                           + (f"classes 0-{len(classes) - 1}" if classes else "no classes"))
        (a, ia), (b, ib) = _end(args.a, "--a"), _end(args.b, "--b")
        recipe = _recipe("stylemix", {"mode": "mix", "a": a, "b": b, "layers": layers,
                                      "cutoff": args.cutoff, "seed": args.seed,
                                      "class": args.klass, **common}, info, {**ia, **ib})
    elif mode in ("--content", "--text"):
        if not args.style:
            raise CLIError(f"{mode} needs --style B.png [B2.png ...]")
        styles = {f"style-{k + 1}": p for k, p in enumerate(args.style)}
        for p in [*args.style, *([args.content] if mode == "--content" else [])]:
            if not Path(p).is_file():
                raise CLIError(f"{p}: no such picture")
        if mode == "--text":
            try:                                    # what it cannot draw, before any work
                reg.get(name).content_codes(args.text.replace(" ", ""))
            except ValueError as exc:
                raise CLIError(str(exc)) from None
            recipe = _recipe("stylemix", {"mode": "text", "text": args.text,
                                          "strength": args.strength, **common}, info, styles)
        else:
            recipe = _recipe("stylemix", {"mode": "in_style", "strength": args.strength,
                                          **common}, info,
                             {"content": args.content, **styles})
    else:
        if args.out_dir is None:
            raise CLIError("--pairs needs --out-dir DIR")
        rows = _pair_rows(args.pairs, ("content", "style"))
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for (content, style), out_name, where in rows:
            out = args.out_dir / out_name
            if not out.suffix:
                out = out.with_suffix(".png")
            recipe = _recipe("stylemix", {"mode": "in_style", "strength": args.strength,
                                          **common}, info,
                             {"content": content, "style-1": style})
            _run_recipe(reg, recipe, out, where)
            print(out)
        return 0
    _run_recipe(reg, recipe, args.out)
    print(args.out)
    return 0


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


def cmd_inpaint(args: argparse.Namespace) -> int:
    from models.tasks import inpaint as ip

    if (args.pairs is None) == (len(args.inputs) == 0):
        raise CLIError("give IN.png MASK.png --out OUT.png, or --pairs PAIRS.csv --out-dir "
                       "DIR")
    reg = _registry()
    from models.protocol import Capability

    name = _resolve_model(reg, str(args.model), "inpainting model", Capability.INPAINT,
                          config=args.config)
    info = reg.info(name)
    if args.frame_glyph and not ip.can_frame_glyph(reg, name):
        raise CLIError(f"--frame-glyph is for glyph models (gray pictures); '{name}' is a "
                       f"{info.family}")
    if Capability.PROMPT in info.capabilities:
        return _inpaint_prompted(args, reg, name)
    if args.prompt is not None:
        raise CLIError(f"model '{name}' takes no prompt (it is a {info.family})")
    try:
        ip.inpaint_model(reg, name)
        options = ip.InpaintOptions(
            sampler=args.sampler, steps=args.steps, repaint=args.repaint,
            guidance=1.0 if args.guidance is None else args.guidance,
            label=ip.parse_class(args.label, info.classes),
            seed=args.seed, feather=args.feather)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    params = {"sampler": options.sampler, "steps": options.total_steps,
              "repaint": options.repaint, "guidance": options.guidance,
              "label": options.label, "seed": options.seed, "feather": options.feather,
              "frame_glyph": bool(args.frame_glyph), "scale": int(args.scale),
              "config": str(args.config) if args.config else ""}

    def one(image: Path, mask: Path, out: Path, where: str = "") -> None:
        if not out.suffix:
            out = out.with_suffix(".png")
        for given in (image, mask):
            if not Path(given).is_file():
                raise CLIError(f"{where}{given}: no such file")
        # The run is its recipe, run by the one runner that 'replay' uses too.
        recipe = _recipe("inpaint", params, info, {"picture": image, "mask": mask})
        _run_recipe(reg, recipe, out, where, about=str(image))
        print(out)

    if args.pairs is None:
        if len(args.inputs) != 2:
            raise CLIError(f"give the picture and its mask (IN.png MASK.png), not "
                           f"{len(args.inputs)} file(s)")
        if args.out is None:
            raise CLIError("--out OUT.png is needed")
        if not args.out.parent.is_dir():
            raise CLIError(f"{args.out}: folder {args.out.parent} does not exist")
        one(args.inputs[0], args.inputs[1], args.out)
        return 0
    if args.out_dir is None:
        raise CLIError("--pairs needs --out-dir DIR")
    jobs = [(paths[0], paths[1], args.out_dir / out_name, where)
            for paths, out_name, where in _pair_rows(args.pairs, ("image", "mask"))]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for image, mask, out, where in jobs:
        one(image, mask, out, where)
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    """The recipe of an output, as JSON (itself a valid RECIPE.json: big arrays stay in the
    output's sidecar .npz, which it names)."""
    from models.recipe import RecipeError, read_recipe, recipe_text

    try:
        recipe = read_recipe(args.output)
        text = recipe_text(recipe, args.output)
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


def _lora_list(items: list[str]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in items:
        path, _, weight = item.rpartition(":") if ":" in Path(item).name else (item, "", "")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise CLIError(f"--lora {item}: the weight after ':' must be a number") from None
        if not Path(path).is_file():
            raise CLIError(f"--lora {path}: no such file")
        out.append((str(Path(path).resolve()), w))
    return tuple(out)


def _existing(paths: list[str], option: str) -> tuple[str, ...]:
    for path in paths:
        if not Path(path).is_file():
            raise CLIError(f"{option} {path}: no such file")
    return tuple(str(Path(p).resolve()) for p in paths)


def _prompt_options(args: argparse.Namespace, **extra):
    from models.tasks.generate import GenerateOptions

    try:
        return GenerateOptions(
            prompt=args.prompt or "", negative=args.negative, steps=args.steps or 25,
            guidance=7.5 if args.guidance is None else args.guidance,
            scheduler=args.scheduler, seed=args.seed, width=args.width, height=args.height,
            strength=args.strength, loras=_lora_list(args.lora), batch=args.batch,
            embeddings=_existing(args.embedding, "--embedding"), **extra)
    except ValueError as exc:
        raise CLIError(str(exc)) from None


def _run_prompted(args: argparse.Namespace, reg, name: str, options,
                  inputs: dict[str, Path]) -> int:
    """Run one recipe per picture of the batch (seed, seed+1, ...), progress on a terminal;
    each PNG carries its ``parameters`` text and its recipe."""
    from dataclasses import replace

    from models.protocol import JobContext
    from models.tasks import runner

    if not args.out.parent.is_dir():
        raise CLIError(f"{args.out}: folder {args.out.parent} does not exist")
    for role, path in inputs.items():
        _read_rgb(path) if role == "picture" else _read_mask(path)    # said before work
    load = {"precision": args.precision, "offload": args.offload,
            "attention_slicing": args.attention_slicing}
    tty = sys.stderr.isatty()
    out = args.out if args.out.suffix else args.out.with_suffix(".png")
    n = options.batch
    for i in range(n):
        one = replace(options, seed=options.seed + i, batch=1)
        files = {**inputs, **{f"lora-{k + 1}": Path(p) for k, (p, _) in enumerate(one.loras)},
                 **{f"embedding-{k + 1}": Path(e) for k, e in enumerate(one.embeddings)}}
        params = {**runner.generate_params(one, load),
                  "config": str(args.config) if args.config else ""}
        recipe = _recipe("generate", params, reg.info(name), files)
        path = out if n == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")

        def progress(f: float, _preview, i: int = i) -> None:
            if tty:
                print(f"\r{name}: {(i + f) / n:4.0%}", end="", file=sys.stderr, flush=True)

        try:
            runner.run(reg, recipe, path, ctx=JobContext(progress))
        except (ValueError, MemoryError) as exc:
            raise CLIError(str(exc)) from None
        except OSError as exc:
            from models.files import os_error_words

            raise CLIError(os_error_words(exc, path)) from None
        if tty:
            print(file=sys.stderr)
        print(path)
    return 0


def _read_rgb(path: Path):
    """A picture as (H, W, 3) float32 in [0, 1], transparency over white."""
    from models.image.io import ImageLoadError
    from models.tasks.runner import read_rgb

    try:
        return read_rgb(path)
    except ImageLoadError as exc:
        raise CLIError(str(exc)) from None


def _read_mask(path: Path):
    from models.image.io import ImageLoadError, open_picture
    from models.tasks.inpaint import mask_from_picture

    try:
        return mask_from_picture(open_picture(path)[0])
    except ImageLoadError as exc:
        raise CLIError(str(exc)) from None


def _inpaint_prompted(args: argparse.Namespace, reg, name: str) -> int:
    if args.pairs is not None or len(args.inputs) != 2:
        raise CLIError("with a Stable Diffusion model give IN.png MASK.png --out OUT.png")
    if args.out is None:
        raise CLIError("--out OUT.png is needed")
    options = _prompt_options(args, mask_blur=args.mask_blur, only_masked=args.only_masked,
                              padding=args.padding)
    return _run_prompted(args, reg, name, options,
                         {"picture": args.inputs[0], "mask": args.inputs[1]})


def cmd_generate(args: argparse.Namespace) -> int:
    from models.protocol import Capability

    reg = _registry()
    name = _resolve_model(reg, str(args.model), "Stable Diffusion model", Capability.PROMPT,
                          config=args.config)
    if Capability.PROMPT not in reg.info(name).capabilities:
        raise CLIError(f"model '{name}' takes no prompt (it is a {reg.info(name).family}); "
                       "give a Stable Diffusion checkpoint")
    options = _prompt_options(args)
    inputs = {"picture": args.image} if args.image is not None else {}
    return _run_prompted(args, reg, name, options, inputs)


def cmd_vocode(args: argparse.Namespace) -> int:
    if not args.output.parent.is_dir():
        raise CLIError(f"{args.output}: folder {args.output.parent} does not exist")
    reg, name = _vocoder(args.vocoder, args.checkpoint)
    params = _params(reg.info(name), args.param + ([f"iters={args.iters}"]
                                                   if args.iters is not None else []))
    _read_audio(args.input)                                  # a bad file said before work
    _run_recipe(reg, _recipe("vocode", {"params": params}, reg.info(name),
                             {"audio": args.input}), args.output, about=str(args.input))
    print(args.output)
    return 0


def cmd_spectrogram(args: argparse.Namespace) -> int:
    reg, name = _vocoder(args.vocoder)
    _read_audio(args.input)
    _run_recipe(reg, _recipe("spectrogram", {}, reg.info(name), {"audio": args.input}),
                args.output, about=str(args.input))
    print(args.output)
    return 0


def _directions(model: str):
    from models.checkpoints import CheckpointError
    from models.image.directions import DirectionSet
    from models.protocol import Capability
    from models.train.directions import directions_path

    reg = _registry()
    name = _resolve_model(reg, model)
    if Capability.LATENT not in reg.info(name).capabilities:
        raise CLIError(f"model '{name}' has no latent space (it is a {reg.info(name).family})")
    path = directions_path(reg.info(name))
    if not path.is_file():
        raise CLIError(f"'{name}' has no directions yet; fit them with 'latent-studio train "
                       f"directions --model {model}'")
    try:
        return reg, name, DirectionSet.load(path)
    except (CheckpointError, KeyError, ValueError) as exc:
        raise CLIError(f"{path}: not a readable directions file ({exc})") from None


def _layer_range(text: str | None):
    if text is None:
        return "default"
    a, sep, b = text.partition("-")
    try:
        return (int(a), int(b) + 1) if sep else (int(a), int(a) + 1)
    except ValueError:
        raise CLIError(f"--layers takes A-B (rows, counted from 0), not '{text}'") from None


def cmd_directions(args: argparse.Namespace) -> int:
    reg, name, ds = _directions(args.model)
    if args.directions_command == "list":
        rows = [d.to_json() | {"measured": ds.card.get("measured", {}).get("steps", {}).get(
            d.name)} for d in ds.directions]
        if args.json:
            print(json.dumps({"model": name, "directions": rows,
                              "layer_shape": ds.layer_shape}, indent=2))
            return 0
        for d in ds.directions:
            extra = (f"layers {d.layers[0]}-{d.layers[1] - 1}  " if d.layers else "")
            extra += (f"{d.explained:.1%} of the variance" if d.kind == "principal"
                      else f"fitted to {d.label}")
            print(f"{d.name:12s} {d.kind:9s} {extra}")
        return 0
    for n in [args.direction, *args.hold]:
        if n not in ds.names:
            raise CLIError(f"no direction named '{n}' (directions: {', '.join(ds.names)})")
    if not -10 <= args.amount <= 10:
        raise CLIError(f"--amount must be between -10 and 10 steps, got {args.amount:g}")
    if not 1 <= args.scale <= 16:
        raise CLIError(f"--scale must be between 1 and 16, got {args.scale}")
    layers = _layer_range(args.layers)
    try:
        ds.vector(args.direction, layers, tuple(args.hold))      # checked before any reading
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if not args.input.is_file():
        raise CLIError(f"{args.input}: no such file")
    params = {"direction": args.direction, "amount": args.amount,
              "layers": None if layers == "default" else list(layers),
              "hold": list(args.hold), "scale": args.scale}
    _run_recipe(reg, _recipe("directions", params, reg.info(name), {"picture": args.input}),
                args.out)
    print(args.out)
    return 0


def _edit_attributes(args: argparse.Namespace, reg, name: str) -> int:
    from models.tasks.runner import model_entry

    changes = {"pitch": args.pitch_semitones, "loudness": args.loudness_db,
               "snr": args.snr_db, "c50": args.c50_db}
    _, vname = _vocoder(args.vocoder, reg=reg)
    if not args.output.parent.is_dir():
        raise CLIError(f"{args.output.parent}: no such folder")
    params = {**changes, "regenerate": bool(args.regenerate),
              "keep_formants": not args.move_formants, "vocoder": model_entry(reg, vname)}
    recipe = _recipe("attributes-edit", params, reg.info(name), {"audio": args.input})
    note = _run_recipe(reg, recipe, args.output, about=str(args.input), quiet=True)
    *notes, how = note.split("\n")
    for line in notes:                      # channels mixed: said above already
        if line.startswith("warning"):
            print(f"latent-studio: {line}", file=sys.stderr)
    from models.audio.io import read_audio

    clip = read_audio(args.output)
    print(f"{args.output}: {clip.audio.size / clip.rate:.2f} s, {how}")
    return 0


def cmd_attributes(args: argparse.Namespace) -> int:
    import numpy as np

    reg = _registry()
    name = _attribute_model(reg, args.model)
    backend = reg.get(name)
    rate = backend.mel_settings.sample_rate
    clip = _read_audio(args.input, rate)
    if clip.source_channels > 1:
        print(f"{args.input}: {clip.source_channels} channels mixed to mono", file=sys.stderr)
    audio = clip.audio
    if audio.size < rate // 4:
        raise CLIError(f"{args.input}: shorter than 0.25 s; nothing to analyse")
    if args.attributes_command == "edit":
        if not getattr(backend, "can_generate", False):
            raise CLIError(f"'{name}' analyses only; it cannot regenerate speech (retrain it "
                           "with 'latent-studio train attributes --content-dims 20')")
        return _edit_attributes(args, reg, name)
    a = backend.analyse(audio)
    result = {"model": name, "frame_rate": a["frame_rate"],
              "f0_hz": [round(float(v), 2) for v in a["f0_hz"]],
              "loudness_db": [round(float(v), 2) for v in a["loudness_db"]],
              "snr_db": round(a["snr_db"], 2), "c50_db": round(a["c50_db"], 2)}
    if args.json:
        print(json.dumps(result))
        return 0
    f0 = np.asarray(a["f0_hz"])
    voiced = f0[f0 > 0]
    print(f"{args.input}: {audio.size / rate:.2f} s, {f0.size} frames at "
          f"{a['frame_rate']:g} /s ({name})")
    if voiced.size:
        print(f"pitch: median {np.median(voiced):.1f} Hz, {np.percentile(voiced, 5):.1f}-"
              f"{np.percentile(voiced, 95):.1f} Hz (5-95 %), voiced {voiced.size / f0.size:.0%}")
    else:
        print("pitch: no voiced frames")
    print(f"loudness: median {np.median(a['loudness_db']):.1f} dBFS per frame")
    print(f"SNR {a['snr_db']:.1f} dB   C50 {a['c50_db']:.1f} dB")
    return 0


_COMMANDS = {
    "recipe": cmd_recipe,
    "replay": cmd_replay,
    "sweep": cmd_sweep,
    "attributes": cmd_attributes,
    "directions": cmd_directions,
    "vocode": cmd_vocode,
    "stylemix": cmd_stylemix,
    "inpaint": cmd_inpaint,
    "generate": cmd_generate,
    "spectrogram": cmd_spectrogram,
    "models": cmd_models,
    "screenshot": cmd_screenshot,
    "data": cmd_data,
    "train": cmd_train,
    "reconstruct": cmd_reconstruct,
    "interpolate": cmd_interpolate,
    "metrics": cmd_metrics,
    "study": cmd_study,
}
