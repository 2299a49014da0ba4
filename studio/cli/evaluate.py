"""Evaluation commands: objective metrics and blind studies."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli.common import (
    CLIError,
    _attribute_model,
    _Parser,
    _registry,
    _resolve_model,
    _vocoder,
)


def add_parsers(sub) -> None:
    """This group's commands on the top parser's subparsers."""
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
    m = mesub.add_parser("samples", help="FID of a model's samples against the held-out "
                         "pictures of the set it trained on, beside PCA samples")
    m.add_argument("model", metavar="NAME|FILE")
    m.add_argument("--components", type=int, default=32, help="the PCA baseline's components")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--write-card", action="store_true",
                   help="also write the figures into the model's card")
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



def _save_to_study(path: Path | None, name: str, value) -> None:
    if path is not None:
        from models.eval.study import Study

        study = Study.open(path)
        study.save_metric(name, value)
        study.close()


def _sample_fid(args: argparse.Namespace) -> int:
    from models.checkpoints import card_path
    from models.eval.samples import measure

    reg = _registry()
    name = _resolve_model(reg, args.model)
    try:
        figures = measure(reg, name, args.components, args.seed, log=lambda s: None)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    if args.write_card:
        path = card_path(Path(reg.info(name).path))
        card = json.loads(path.read_text())
        card.setdefault("metrics", {}).update(figures)
        from models.files import write_whole

        write_whole(path, (json.dumps(card, indent=2) + "\n").encode())
    print(json.dumps({"model": name, **figures}))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from models.tasks.metrics import compute_metric, metric_value

    if args.metric == "vocoders":
        return _compare_vocoders(args)
    if args.metric == "samples":
        return _sample_fid(args)
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


COMMANDS = {
    "metrics": cmd_metrics,
    "study": cmd_study,
}
