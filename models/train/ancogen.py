"""Train the AnCoGen-style attribute model (``latent-studio train attributes``).

Data: utterances of the speech corpus's training speakers (real recordings first, then
MBROLA / formant speech), cut into random 3 s segments, each augmented with a known room
(pyroomacoustics' image-source shoebox: C50 known) and known noise (white, brown or babble of
other speakers, SNR known), at a random level. Labels: pitch from FCPE on the dry clean
utterance (computed once and cached beside the corpus), loudness from the augmented signal,
SNR and C50 from how it was made. Measured on the test split (speakers never heard).
"""

from __future__ import annotations

import json
import math
import platform
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.audio import attributes as at
from models.audio.ancogen import (
    AnCoGen,
    AnCoGenBackend,
    AnCoGenConfig,
    config_to_card,
    content_of,
    f0_tokens,
    init_from,
    scales,
)
from models.audio.features import log_mel
from models.checkpoints import load_checkpoint, save_checkpoint
from models.data import cache_dir, speech
from models.files import save_npz
from models.protocol import JobContext
from models.train.batches import prefetch

CLEAN_SNR = 50.0
DRY_C50 = 42.0


@dataclass
class TrainConfig:
    minutes: float = 40.0
    batch: int = 16
    segment: float = 2.0
    lr: float = 5e-4
    seed: int = 0
    clips: int = 900            # training utterances labelled (2/3 real where there are)
    rooms: int = 160
    eval_every: int = 500
    test_clips: int = 64
    init: str = ""              # start from this attribute model's weights (shared layers)
    content_dims: int = 20      # envelope cepstra for generation (0: analysis only)


def label_pitch(clips: list[np.ndarray], idx: list[int], path: Path, log=print,
                ctx: JobContext | None = None) -> dict[int, np.ndarray]:
    """FCPE pitch per mel frame of the utterances ``idx``, cached in ``path``."""
    have: dict[int, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as z:
            have = {int(k): z[k] for k in z.files}
    todo = [i for i in idx if i not in have or have[i].size != at.frames(clips[i].size)]
    t0 = time.time()
    for n, i in enumerate(todo):
        if ctx is not None:
            ctx.check()
        have[i] = at.pitch_fcpe(clips[i])
        if n % 100 == 99:
            log(json.dumps({"pitch_labels": n + 1, "of": len(todo),
                            "seconds": round(time.time() - t0, 1)}))
    if todo:
        save_npz(path, **{str(k): v for k, v in have.items()})
    return {i: have[i] for i in idx}


class Examples:
    """Augmented segments with their labels."""

    def __init__(self, clips: list[np.ndarray], f0: list[np.ndarray], rooms: list[at.Room],
                 babble: list[np.ndarray], seconds: float, seed: int) -> None:
        self.clips, self.f0, self.rooms, self.babble = clips, f0, rooms, babble
        self.frames = int(seconds * at.RATE) // at.HOP
        self.n = self.frames * at.HOP
        self.rng = np.random.default_rng(seed)

    def noise(self, kind: str, n: int) -> np.ndarray:
        rng = self.rng
        if kind == "babble" and self.babble:
            out = np.zeros(n, np.float32)
            for _ in range(3):
                c = self.babble[rng.integers(len(self.babble))]
                out += np.resize(np.roll(c, int(rng.integers(c.size))), n)
            return out
        w = rng.standard_normal(n).astype(np.float32)
        if kind == "brown":
            w = np.cumsum(w)
            w -= np.convolve(w, np.ones(64) / 64, mode="same")
        return w

    def one(self, snr: float | None | str = "random", room: at.Room | None | str = "random",
            noise: str | None = None, clip: int | None = None) -> dict[str, Any]:
        """One segment; ``snr`` / ``room``: "random" (training's odds), None (none) or
        given."""
        rng = self.rng
        k = int(rng.integers(len(self.clips))) if clip is None else clip
        x, f0 = self.clips[k], self.f0[k]
        if x.size < self.n:
            pad = self.n - x.size
            x = np.pad(x, (0, pad))
            f0 = np.pad(f0, (0, self.frames - f0.size))
        start = int(rng.integers(0, (x.size - self.n) // at.HOP + 1)) * at.HOP
        x = x[start:start + self.n].astype(np.float32)
        clean = x / (np.abs(x).max() + 1e-6) * 0.5
        f0 = f0[start // at.HOP:start // at.HOP + self.frames]
        c50 = DRY_C50
        if room == "random":
            room = (self.rooms[int(rng.integers(len(self.rooms)))] if rng.random() < 0.5
                    else None)
        if isinstance(room, at.Room):
            x = at.reverberate(x, room.rir)
            c50 = min(room.c50_db, DRY_C50)
        if snr == "random":
            snr = float(rng.uniform(-5.0, 45.0)) if rng.random() < 0.6 else None
        if snr is not None:
            kind = noise or str(rng.choice(["white", "brown", "babble"]))
            x = at.mix_at_snr(x, self.noise(kind, x.size), snr)
        x = x / (np.abs(x).max() + 1e-6) * 10 ** (rng.uniform(-35.0, -1.0) / 20)
        return {"audio": x.astype(np.float32), "f0": f0.astype(np.float32),
                "loud": at.loudness_db(x), "snr": CLEAN_SNR if snr is None else snr,
                "c50": c50, "clean": clean.astype(np.float32)}

    def batch(self, b: int) -> dict[str, torch.Tensor]:
        items = [self.one() for _ in range(b)]
        return {k: torch.from_numpy(np.stack([np.asarray(i[k], np.float32) for i in items]))
                for k in items[0]}

    def prefetch(self, b: int, depth: int = 4) -> tuple[queue.Queue, threading.Event]:
        """Make batches in a daemon thread; set the event to stop it."""
        return prefetch(lambda: self.batch(b), depth, "attribute-batches")


def tokens(cfg: AnCoGenConfig, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    sc = scales(cfg)
    return {"f0": f0_tokens(cfg, batch["f0"]), "loud": sc["loud"].to_bins(batch["loud"]),
            "snr": sc["snr"].to_bins(batch["snr"]), "c50": sc["c50"].to_bins(batch["c50"])}


def _smooth_ce(logits: torch.Tensor, target: torch.Tensor, sigma: float = 1.0,
               offset: int = 0) -> torch.Tensor:
    """Cross-entropy against a Gaussian over neighbouring bins (ordinal targets); indices
    below ``offset`` (pitch's unvoiced) are one-hot."""
    n = logits.shape[-1]
    idx = torch.arange(n, device=logits.device)
    tgt = torch.exp(-0.5 * ((idx - target[..., None]) / sigma) ** 2)
    if offset:
        tgt[..., :offset] = 0
        hard = target < offset
        tgt = torch.where(hard[..., None], F.one_hot(target, n).to(tgt), tgt)
        tgt[..., :offset] = torch.where(hard[..., None], tgt[..., :offset], 0)
    tgt = tgt / tgt.sum(-1, keepdim=True)
    return -(tgt * F.log_softmax(logits, -1)).sum(-1)


def step_loss(net: AnCoGen, batch: dict[str, torch.Tensor], rng: torch.Generator
              ) -> tuple[torch.Tensor, dict[str, float]]:
    cfg = net.cfg
    mel = log_mel(batch["audio"], cfg.mel).transpose(1, 2)            # (B, T, M)
    b, t, _ = mel.shape
    tok = tokens(cfg, batch)
    tok["f0"], tok["loud"] = tok["f0"][:, :t], tok["loud"][:, :t]
    k = cfg.content_dims
    gen_p = 0.4 if k else 0.2
    mode = torch.rand(b, generator=rng)
    r = torch.rand(b, 1, generator=rng)
    r = torch.where(mode[:, None] < 0.3, torch.zeros_like(r), r)       # analyse
    generate = mode > 1 - gen_p
    r = torch.where(generate[:, None], torch.ones_like(r), r)          # generate
    mel_m = torch.rand(b, t, generator=rng) < r
    attr_p = 1 - r
    f0_m = torch.rand(b, t, generator=rng) < attr_p
    loud_m = torch.rand(b, t, generator=rng) < attr_p
    if k:       # generation without loudness (what a clean-up asks): 30 % of generation
        no_loud = generate & (torch.rand(b, generator=rng) < 0.3)
        loud_m = loud_m | no_loud[:, None]
    snr_m = torch.rand(b, generator=rng) < attr_p[:, 0]
    c50_m = torch.rand(b, generator=rng) < attr_p[:, 0]
    inp = {"f0": torch.where(f0_m, cfg.f0_bins + 1, tok["f0"]),
           "loud": torch.where(loud_m, cfg.loud_bins, tok["loud"]),
           "snr": torch.where(snr_m, cfg.snr_bins, tok["snr"]),
           "c50": torch.where(c50_m, cfg.c50_bins, tok["c50"])}
    content = content_m = None
    if k:
        content = content_of(log_mel(batch["clean"], cfg.mel).transpose(1, 2)[:, :t], k)
        content_m = torch.rand(b, t, generator=rng) < attr_p
    out = net(mel, inp["f0"], inp["loud"], inp["snr"], inp["c50"], mel_m, content, content_m)

    def masked_mean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return (v * m).sum() / m.sum().clamp_min(1)

    mel_l = masked_mean((out["mel"] - mel).abs().mean(-1), mel_m.float())
    f0_l = masked_mean(_smooth_ce(out["f0"], tok["f0"], 1.0, offset=1), f0_m.float())
    loud_l = masked_mean(_smooth_ce(out["loud"], tok["loud"]), loud_m.float())
    snr_l = masked_mean(_smooth_ce(out["snr"], tok["snr"]), snr_m.float())
    c50_l = masked_mean(_smooth_ce(out["c50"], tok["c50"]), c50_m.float())
    loss = mel_l + f0_l + 0.5 * loud_l + snr_l + c50_l
    parts = {"mel": mel_l, "f0": f0_l, "loud": loud_l, "snr": snr_l, "c50": c50_l}
    if k:
        content_l = masked_mean((out["content"] - content).abs().mean(-1), content_m.float())
        loss = loss + content_l
        parts["content"] = content_l
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def evaluate(backend: AnCoGenBackend, items: list[dict[str, Any]],
             baselines: bool = False) -> dict[str, float]:
    """Analysis errors over ``items`` (made by :meth:`Examples.one`): pitch MAE (Hz, cents)
    against the FCPE labels of the clean speech, voicing agreement, loudness, SNR and C50
    MAE; with ``baselines`` also FCPE and pYIN run on the same (noisy, reverberant) audio."""
    rows: dict[str, list[float]] = {}

    def add(k: str, v: float) -> None:
        if np.isfinite(v):
            rows.setdefault(k, []).append(v)

    for it in items:
        a = backend.analyse(it["audio"])
        e = at.pitch_error(a["f0_hz"], it["f0"])
        add("pitch_hz", e["hz"])
        add("pitch_cents", e["cents"])
        add("voicing", e["voicing_agreement"])
        n = min(a["loudness_db"].size, it["loud"].size)
        add("loudness_db", float(np.mean(np.abs(a["loudness_db"][:n] - it["loud"][:n]))))
        add("snr_db", abs(a["snr_db"] - it["snr"]))
        add("c50_db", abs(a["c50_db"] - it["c50"]))
        if "content" in a:
            k = backend.cfg.content_dims
            truth = content_of(log_mel(it["clean"], backend.cfg.mel).T, k).numpy()
            add("content_l1", float(np.mean(np.abs(a["content"] - truth[:len(a["content"])]))))
            mel = log_mel(it["audio"], backend.cfg.mel).numpy()
            t = mel.shape[1]
            gen = backend.generate_mel(truth[:t], it["f0"][:t], it["loud"][:t], it["snr"],
                                       it["c50"])
            add("gen_mel_l1", float(np.mean(np.abs(gen - mel))))
        if baselines:
            for name, fn in (("fcpe", at.pitch_fcpe), ("pyin", at.pitch_pyin)):
                e = at.pitch_error(fn(it["audio"]), it["f0"])
                add(f"{name}_pitch_hz", e["hz"])
                add(f"{name}_pitch_cents", e["cents"])
                add(f"{name}_voicing", e["voicing_agreement"])
    return {k: round(float(np.mean(v)), 4) for k, v in rows.items()}


def make_rooms(n: int, seed: int) -> list[at.Room]:
    rng = np.random.default_rng(seed)
    return [at.simulate_room(rng) for _ in range(n)]


def train(out: Path, cfg: TrainConfig | None = None, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print,
          net_cfg: AnCoGenConfig | None = None) -> dict[str, Any]:
    cfg = cfg or TrainConfig()
    net_cfg = net_cfg or AnCoGenConfig()
    ctx = ctx or JobContext()
    torch.manual_seed(cfg.seed)
    path = data_path or cache_dir() / "speech.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run 'latent-studio data build speech'")
    clips, manifest = speech.load(path)
    rng = np.random.default_rng(cfg.seed)
    train_idx = [i for i, m in enumerate(manifest) if m["split"] == "train"
                 and clips[i].size >= at.RATE]
    real = [i for i in train_idx if manifest[i]["kind"] == "real"]
    other = [i for i in train_idx if manifest[i]["kind"] != "real"]
    n_real = min(len(real), cfg.clips * 2 // 3)
    pick = sorted(list(rng.choice(real, n_real, replace=False)) + list(
        rng.choice(other, min(len(other), cfg.clips - n_real), replace=False)))
    val_pick, train_pick = pick[:: 20], [i for k, i in enumerate(pick) if k % 20]
    test_idx = [i for i, m in enumerate(manifest) if m["split"] == "test"
                and m["kind"] == "real" and clips[i].size >= 2 * at.RATE]
    test_pick = sorted(rng.choice(test_idx, min(cfg.test_clips, len(test_idx)),
                                  replace=False))
    t0 = time.time()
    labels = label_pitch(clips, sorted(set(pick) | set(test_pick)),
                         path.with_name(path.stem + "-f0-fcpe.npz"), log, ctx)
    log(json.dumps({"labelled": len(labels), "seconds": round(time.time() - t0, 1)}))
    rooms = make_rooms(cfg.rooms, cfg.seed)
    test_rooms = make_rooms(24, cfg.seed + 1000)                     # rooms never trained on
    babble = [clips[i] for i in train_pick[:200]]
    data = Examples([clips[i] for i in train_pick], [labels[i] for i in train_pick], rooms,
                    babble, cfg.segment, cfg.seed)
    val_data = Examples([clips[i] for i in val_pick], [labels[i] for i in val_pick], rooms,
                        babble, cfg.segment, cfg.seed + 1)
    val = [val_data.one() for _ in range(48)]
    fresh: list[str] = []
    if cfg.init:
        init = load_checkpoint(Path(cfg.init))
        net_cfg = AnCoGenConfig(**{**init.card["config"], "content_dims": cfg.content_dims})
        net = AnCoGen(net_cfg)
        fresh = init_from(net, init.state)
        log(json.dumps({"init": str(cfg.init), "new_layers": fresh}))
    else:
        net_cfg = AnCoGenConfig(**{**config_to_card(net_cfg),
                                   "content_dims": cfg.content_dims})
        net = AnCoGen(net_cfg)
    backend = AnCoGenBackend(net)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.01)
    gen = torch.Generator().manual_seed(cfg.seed)
    batches, stop = data.prefetch(cfg.batch)
    t0, step, history, best, best_state = time.time(), 0, [], math.inf, None
    budget = cfg.minutes * 60
    terms: dict[str, list[float]] = {}
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = cfg.lr * min(1.0, (step + 1) / 500) * (0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        net.train()
        loss, parts = step_loss(net, batches.get(), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in parts.items():
            terms.setdefault(k, []).append(v)
        if step % 25 == 0:
            if ctx.cancelled:
                stop.set()
            ctx.check()
            ctx.report(frac)
        if step % cfg.eval_every == 0:
            net.eval()
            v = evaluate(backend, val)
            mean_terms = {k: round(float(np.mean(x)), 4) for k, x in terms.items()}
            terms.clear()
            history.append({"step": step, "minutes": round((time.time() - t0) / 60, 1), **v,
                            "train_terms": mean_terms})
            log(json.dumps(history[-1]))
            score = v.get("pitch_cents", 1e3) / 100 + v.get("snr_db", 1e3) / 5 + v.get(
                "c50_db", 1e3) / 5 + 2 * v.get("gen_mel_l1", 0.0) + v.get("content_l1", 0.0)
            if score < best:
                best = score
                best_state = {k: x.detach().clone() for k, x in net.state_dict().items()}
    stop.set()
    minutes = (time.time() - t0) / 60
    if best_state is not None:
        net.load_state_dict(best_state)
    net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    net.eval()
    measured = measure(backend, clips, labels, test_pick, test_rooms, babble, cfg.seed, log)
    card = {
        "family": "ancogen",
        "description": "AnCoGen-style masked transformer over mel frames and attribute tokens "
                       "(pitch, loudness, content per frame; SNR, C50 per clip), 16 kHz "
                       "speech: analyses, and regenerates a sentence with other attributes"
                       if net_cfg.content_dims else
                       "AnCoGen-style masked transformer over mel frames and attribute tokens "
                       "(pitch, loudness per frame; SNR, C50 per clip), 16 kHz speech",
        "config": config_to_card(net_cfg),
        "data": {
            "source": "latent-studio data build speech: utterances of the training speakers "
                      f"({n_real} real recordings, {len(pick) - n_real} MBROLA / formant), "
                      f"random {cfg.segment:g} s segments; 50 % through a simulated room "
                      f"(pyroomacoustics image-source shoebox, {cfg.rooms} rooms, "
                      "RT60 0.15-1.2 s: C50 known), "
                      "60 % with white, brown or babble noise at SNR -5..45 dB (known), "
                      "level -35..-1 dBFS",
            "labels": "pitch: FCPE (torchfcpe 0.0.4, MIT) on the dry clean utterance; "
                      "loudness: RMS dB of the augmented frame; SNR and C50: as made "
                      f"(clean: {CLEAN_SNR:g} dB, dry: {DRY_C50:g} dB)",
            "test": f"{len(test_pick)} utterances of the real test speakers (never heard), "
                    "24 rooms never trained on",
            "licence": "MBROLA voices: non-commercial use only; so is this model; real "
                       "recordings: KLettres GPL-2+, Asterisk prompts CC-BY-SA-3.0",
        },
        "training": {
            "command": f"latent-studio train attributes --minutes {cfg.minutes:g} "
                       f"--seed {cfg.seed}" + (f" --init {cfg.init}" if cfg.init else ""),
            "init": cfg.init or None, "new_layers": fresh,
            "seed": cfg.seed, "steps": step, "batch": cfg.batch, "segment_s": cfg.segment,
            "lr": cfg.lr, "minutes": round(minutes, 1),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU",
            "losses": "L1 of the masked mel frames + cross-entropy of the masked attribute "
                      "tokens (Gaussian-smoothed over neighbouring bins; loudness x 0.5) + "
                      "L1 of the masked content cepstra; masking: 30 % analysis (no mel "
                      f"masked), {40 if net_cfg.content_dims else 20} % generation (all mel "
                      "masked; 30 % of them without loudness), else a fraction r of the mel "
                      "and 1-r of the attributes",
            "history": history,
        },
        "metrics": {f"{cond}_{k}": v for cond, row in measured.items()
                    for k, v in row.items()},
        "baseline": "FCPE (the labeller) and pYIN (librosa) run on the same noisy or "
                    "reverberant audio, against the FCPE labels of the clean speech",
    }
    save_checkpoint(out, net.state_dict(), card, half=True)
    log(json.dumps({"metrics": card["metrics"]}))
    return card


def measure(backend: AnCoGenBackend, clips: list[np.ndarray], labels: dict[int, np.ndarray],
            test_pick: list[int], rooms: list[at.Room], babble: list[np.ndarray],
            seed: int, log=print) -> dict[str, dict[str, float]]:
    """Analysis on the test speakers: clean, white noise at 0 / 5 / 10 dB SNR, and through an
    unseen room (C50), with the trackers' figures on the same audio."""
    ex = Examples([clips[i] for i in test_pick], [labels[i] for i in test_pick], rooms,
                  babble, 3.0, seed + 7)
    out = {}
    for cond, snr in (("clean", None), ("snr10", 10.0), ("snr5", 5.0), ("snr0", 0.0),
                      ("room", None)):
        items = [ex.one(snr=snr, noise="white", clip=k,
                        room=rooms[k % len(rooms)] if cond == "room" else None)
                 for k in range(len(test_pick))]
        out[cond] = evaluate(backend, items, baselines=True)
        log(json.dumps({cond: out[cond]}))
    return out
