"""Train the neural vocoder (``latent-studio train vocoder``).

Data: the corpus of ``latent-studio data build speech`` (real recordings of human speakers, and
espeak-ng / MBROLA speech). Random segments, each given a random level (-40 to -1 dBFS peak),
and some of them room reverberation and background noise, so the vocoder meets more than clean
studio speech. Losses: multi-resolution STFT (spectral convergence + log magnitude) and the L1
distance of ln-mel spectrograms; with ``adv_weight`` > 0 also least-squares adversarial and
feature-matching losses from multi-period and multi-resolution discriminators (HiFi-GAN,
Vocos). Baseline: Griffin-Lim (32 iterations) from the same mel, on the test split, whose
speakers are never heard in training; with real speakers in the corpus the card also holds the
per-speaker comparison of models.eval.vocoders (DNSMOS, MR-STFT, mel) against Griffin-Lim and
against the weights training started from.
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
from scipy.signal import fftconvolve
from torch.nn import functional as F

from models.audio.discriminators import (
    Discriminators,
    discriminator_loss,
    feature_loss,
    generator_loss,
)
from models.audio.features import log_mel, mel_distance, mrstft_distance, mrstft_terms
from models.audio.griffinlim import GriffinLimBackend
from models.audio.vocos import Vocos, VocosBackend, VocosConfig, config_to_card
from models.checkpoints import save_checkpoint
from models.data import cache_dir, speech
from models.protocol import JobContext
from models.train.batches import prefetch


@dataclass
class TrainConfig:
    minutes: float = 50.0
    batch: int = 16
    segment: float = 1.0
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 250
    mel_weight: float = 3.0
    init: str = ""          # continue from these weights (a .safetensors of this family)
    test_utterances: int = 80
    # Adversarial training (HiFi-GAN / Vocos): multi-period + multi-resolution
    # discriminators, least squares; 0 turns it off.
    adv_weight: float = 0.0
    fm_weight: float = 2.0  # feature matching, relative to the adversarial term
    compare: bool = True    # measure on the real test speakers (DNSMOS) at the end


class Segments:
    """Random augmented segments of the training utterances."""

    def __init__(self, clips: list[np.ndarray], rate: int, seconds: float, seed: int,
                 hop: int = 256) -> None:
        self.clips = [c for c in clips if c.size > 0]
        self.rate = rate
        self.n = int(seconds * rate) // hop * hop
        lengths = np.array([c.size for c in self.clips], np.float64)
        self.p = lengths / lengths.sum()
        self.rng = np.random.default_rng(seed)

    def _rir(self) -> np.ndarray:
        t60 = self.rng.uniform(0.15, 0.7)
        n = int(t60 * self.rate)
        t = np.arange(n) / self.rate
        rir = self.rng.standard_normal(n) * np.exp(-6.9 * t / t60)
        rir[0] = 1.0 / max(self.rng.uniform(0.2, 1.0), 1e-3)       # direct path
        return (rir / np.sqrt((rir ** 2).sum())).astype(np.float32)

    def _noise(self, n: int) -> np.ndarray:
        w = self.rng.standard_normal(n).astype(np.float32)
        if self.rng.random() < 0.5:                                 # brownish (hum, room tone)
            w = np.cumsum(w)
            w -= np.convolve(w, np.ones(64) / 64, mode="same")
        return w / (np.std(w) + 1e-8)

    def one(self) -> np.ndarray:
        clip = self.clips[self.rng.choice(len(self.clips), p=self.p)]
        extra = self.rate // 2
        need = self.n + extra
        if clip.size < need:
            clip = np.pad(clip, (need - clip.size, 0))
        start = int(self.rng.integers(0, clip.size - need + 1))
        x = clip[start:start + need].astype(np.float32)
        if self.rng.random() < 0.3:
            x = fftconvolve(x, self._rir())[:need].astype(np.float32)
        x = x[extra:]
        if self.rng.random() < 0.3:
            snr = self.rng.uniform(10.0, 45.0)
            p = np.sqrt(np.mean(x ** 2) + 1e-10)
            x = x + self._noise(x.size) * p * 10 ** (-snr / 20)
        peak = np.abs(x).max() + 1e-6
        level = 10 ** (self.rng.uniform(-40.0, -1.0) / 20)
        x = x / peak * level
        if self.rng.random() < 0.5:
            x = -x
        return x.astype(np.float32)

    def batch(self, b: int) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.one() for _ in range(b)]))

    def prefetch(self, b: int, depth: int = 4) -> tuple[queue.Queue, threading.Event]:
        """Make batches in a daemon thread; set the event to stop it."""
        return prefetch(lambda: self.batch(b), depth, "vocoder-batches")


def evaluate(backend: Any, clips: list[np.ndarray], mel_settings) -> dict[str, float]:
    """Mean MR-STFT and mel distance of the round trip audio -> mel -> backend."""
    if not clips:
        return {"mrstft": math.inf, "mel": math.inf}
    mr, md = [], []
    for x in clips:
        y = backend.vocode(log_mel(x, mel_settings).numpy())
        mr.append(mrstft_distance(y, x))
        md.append(mel_distance(y, x, mel_settings))
    return {"mrstft": float(np.mean(mr)), "mel": float(np.mean(md))}


def train(out: Path, cfg: TrainConfig | None = None, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print,
          net_cfg: VocosConfig | None = None) -> dict[str, Any]:
    cfg = cfg or TrainConfig()
    net_cfg = net_cfg or VocosConfig()
    init = None
    if cfg.init:
        from models.checkpoints import load_checkpoint

        init = load_checkpoint(cfg.init)
        net_cfg = VocosConfig(**init.config)
    ctx = ctx or JobContext()
    torch.manual_seed(cfg.seed)
    path = data_path or cache_dir() / "speech.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run 'latent-studio data build speech'")
    clips, manifest = speech.load(path)
    train_idx = [i for i, m in enumerate(manifest) if m["split"] == "train"]
    test_idx = [i for i, m in enumerate(manifest) if m["split"] == "test"]
    rng = np.random.default_rng(cfg.seed)
    # Validation: utterances of training speakers, half of them real recordings where the
    # corpus has them (the adversarial run is selected by how its real speech sounds).
    n_val = min(24, len(train_idx) // 10)
    real_train = [i for i in train_idx if manifest[i].get("kind") == "real"]
    n_real = min(n_val // 2, len(real_train))
    val_real = list(rng.choice(real_train, size=n_real, replace=False)) if n_real else []
    rest = sorted(set(train_idx) - set(val_real))
    val_idx = sorted(val_real + list(rng.choice(rest, size=n_val - n_real, replace=False)))
    train_idx = sorted(set(train_idx) - set(val_idx))
    test_pick = sorted(rng.choice(test_idx, size=min(cfg.test_utterances, len(test_idx)),
                                  replace=False))
    mel_s = net_cfg.mel
    data = Segments([clips[i] for i in train_idx], mel_s.sample_rate, cfg.segment, cfg.seed,
                    mel_s.hop)
    val = [clips[i] for i in val_idx]
    val_listen = [clips[i][: 4 * mel_s.sample_rate] for i in val_real
                  if clips[i].size >= 2 * mel_s.sample_rate]

    net = Vocos(net_cfg)
    if init is not None:
        net.load_state_dict({k: v.float() for k, v in init.state.items()})
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.8, 0.99), weight_decay=0.01)
    disc = opt_d = None
    if cfg.adv_weight > 0:
        disc = Discriminators()
        opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.lr, betas=(0.8, 0.99),
                                  weight_decay=0.01)
    backend = VocosBackend(net)
    gl = GriffinLimBackend(mel_s, iters=32)
    gl_val = evaluate(gl, val, mel_s)
    log(json.dumps({"griffinlim32_val": gl_val}))
    t0, step, best, best_state, history = time.time(), 0, math.inf, None, []
    terms: dict[str, list[float]] = {}
    budget = cfg.minutes * 60
    batches, stop = data.prefetch(cfg.batch)
    while True:
        elapsed = time.time() - t0
        if elapsed > budget and history:        # never without one measured point
            break
        frac = elapsed / budget
        lr = cfg.lr * min(1.0, (step + 1) / 300) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95
                                                    + 0.05)
        for g in opt.param_groups + (opt_d.param_groups if opt_d is not None else []):
            g["lr"] = lr
        net.train()
        y = batches.get()
        with torch.no_grad():
            mel = log_mel(y, mel_s)
        y_hat = net(mel)
        n = min(y.shape[-1], y_hat.shape[-1])
        sc, lm = mrstft_terms(y_hat[:, :n], y[:, :n])
        mel_l1 = F.l1_loss(log_mel(y_hat[:, :n], mel_s), mel)
        loss = sc + lm + cfg.mel_weight * mel_l1
        parts = {"mrstft": float((sc + lm).detach()), "mel_l1": float(mel_l1.detach())}
        if disc is not None:
            # The discriminators' step, on the generated audio as it is now.
            real = y[:, :n]
            d_loss = discriminator_loss(disc(real), disc(y_hat[:, :n].detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            fake_out = disc(y_hat[:, :n])
            with torch.no_grad():
                real_out = disc(real)
            g_adv, g_fm = generator_loss(fake_out), feature_loss(real_out, fake_out)
            loss = loss + cfg.adv_weight * (g_adv + cfg.fm_weight * g_fm)
            parts.update(disc=float(d_loss.detach()), adv=float(g_adv.detach()),
                         fm=float(g_fm.detach()))
        for k, v in parts.items():
            terms.setdefault(k, []).append(v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        if step % 25 == 0 and ctx.cancelled:
            stop.set()
            ctx.check()
        if step % 25 == 0:
            ctx.report(frac)
        if step % cfg.eval_every == 0:
            net.eval()
            v = evaluate(backend, val, mel_s)
            score = v["mrstft"] + v["mel"]
            if disc is not None and val_listen:
                # Adversarial training trades a little distance for how it sounds: keep the
                # weights whose real validation speech DNSMOS rates best.
                v["dnsmos_ovrl"] = listen(backend, val_listen, mel_s)
                score = -v["dnsmos_ovrl"]
            mean_terms = {k: round(float(np.mean(x)), 4) for k, x in terms.items()}
            terms.clear()
            history.append({"step": step, "minutes": round(elapsed / 60, 1), **v,
                            "train_terms": mean_terms})
            log(json.dumps({"step": step, "min": round(elapsed / 60, 1), "lr": round(lr, 6),
                            "loss": round(float(loss), 4), "val": v, "terms": mean_terms}))
            if score < best:
                best = score
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    stop.set()
    minutes = (time.time() - t0) / 60
    if best_state is not None:
        net.load_state_dict(best_state)
    # The weights ship in float16: measure what ships.
    net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    net.eval()
    test = [clips[i] for i in test_pick]
    ours = evaluate(backend, test, mel_s)
    base = evaluate(gl, test, mel_s)
    test_voices = sorted({manifest[i]["voice"] for i in test_pick})
    rtf = _rtf(backend, gl, mel_s)
    card = {
        "family": "vocos",
        "description": "Neural vocoder (Vocos-style ConvNeXt + iSTFT head), 16 kHz speech",
        "config": config_to_card(net_cfg),
        "data": {
            "source": _corpus_source(path, manifest),
            "train_minutes": round(sum(clips[i].size for i in train_idx) / mel_s.sample_rate
                                   / 60, 1),
            "test_voices_unseen": test_voices,
            "test_utterances": len(test_pick),
            "augmentation": "level -40..-1 dBFS, 30% reverb (T60 0.15-0.7 s), 30% noise "
                            "(SNR 10-45 dB), polarity",
            "licence": "MBROLA voices: non-commercial use only; so is this model"
                       + ("; real recordings: KLettres GPL-2+, Asterisk prompts CC-BY-SA-3.0"
                          if any(m.get("kind") == "real" for m in manifest) else ""),
        },
        "training": {
            "command": f"latent-studio train vocoder --minutes {cfg.minutes:g} --seed {cfg.seed}"
                       + (f" --mel-weight {cfg.mel_weight:g}" if cfg.mel_weight != 3.0 else "")
                       + (f" --lr {cfg.lr:g}" if cfg.lr != 1e-3 else "")
                       + (f" --init {cfg.init}" if cfg.init else "")
                       + (f" --adv-weight {cfg.adv_weight:g}" if cfg.adv_weight else "")
                       + (f" --fm-weight {cfg.fm_weight:g}"
                          if cfg.adv_weight and cfg.fm_weight != 2.0 else "")
                       + (f" --batch {cfg.batch}" if cfg.batch != 16 else "")
                       + (f" --segment {cfg.segment:g}" if cfg.segment != 1.0 else ""),
            "seed": cfg.seed, "steps": step, "batch": cfg.batch, "segment_s": cfg.segment,
            "lr": cfg.lr, "minutes": round(minutes, 1),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, CPU",
            "losses": "MR-STFT (SC + log-mag, FFT 512/1024/2048) + "
                      f"{cfg.mel_weight:g} x ln-mel L1"
                      + (f" + {cfg.adv_weight:g} x (least-squares adversarial, multi-period "
                         f"2/3/5/7/11 + multi-resolution 512/1024/2048 discriminators, + "
                         f"{cfg.fm_weight:g} x feature matching)" if cfg.adv_weight > 0
                         else ""),
            "history": history,
        },
        "metrics": {
            "test_mrstft": round(ours["mrstft"], 4),
            "test_mel_distance": round(ours["mel"], 4),
            "griffinlim32_test_mrstft": round(base["mrstft"], 4),
            "griffinlim32_test_mel_distance": round(base["mel"], 4),
            "rtf_10s": round(rtf["ours"], 4),
            "griffinlim32_rtf_10s": round(rtf["griffinlim"], 4),
        },
        "baseline": "Griffin-Lim, 32 iterations, from the same mel (inverse mel scale)",
    }
    if init is not None:
        # Training continued from other weights: keep how those were made.
        card["training"]["continued_from"] = {
            k: init.card.get("training", {}).get(k) for k in ("command", "steps", "minutes",
                                                              "losses", "seed")}
        card["training"]["total_minutes"] = round(
            minutes + float(init.card.get("training", {}).get("total_minutes")
                            or init.card.get("training", {}).get("minutes") or 0), 1)
    if cfg.compare:
        real = compare_real(backend, gl, init, clips, manifest, mel_s, out, ctx)
        if real:
            card["measured_real_voices"] = real
            log(json.dumps({"real_voices": real["summary"]}))
    save_checkpoint(out, net.state_dict(), card, half=True)
    log(json.dumps({"metrics": card["metrics"]}))
    return card


def _corpus_source(path: Path, manifest: list[dict]) -> str:
    kinds = {m.get("kind", "") for m in manifest}
    parts = []
    if "real" in kinds:
        parts.append("real recordings of human speakers (KLettres letters and syllables in "
                     "about 20 languages, Asterisk telephony prompts by three professional "
                     "speakers)")
    if "mbrola" in kinds:
        parts.append("espeak-ng driving MBROLA diphone voices cut from real human recordings")
    if "formant" in kinds:
        parts.append("espeak-ng formant voices")
    card = path.with_suffix(".json")
    extra = f"; corpus card {card.name}" if card.is_file() else ""
    return f"latent-studio data build speech: {', '.join(parts)}{extra}"


def compare_real(ours: Any, gl: Any, init: Any, clips: list[np.ndarray], manifest: list[dict],
                 mel_s, out: Path, ctx: JobContext | None = None) -> dict[str, Any] | None:
    """The per-speaker comparison on the real test speakers (models.eval.vocoders): these
    weights, Griffin-Lim 32 and the weights training started from; None without real test
    speakers. The round trips are written under ``<out stem>-compare/``."""
    from models.eval.vocoders import compare, real_voice_section, test_clips

    voices = test_clips(clips, manifest, kind="real")
    if not voices:
        return None
    systems = {"ours": ours, "griffinlim32": gl}
    if init is not None:
        net = Vocos(VocosConfig(**init.config))
        net.load_state_dict({k: v.float() for k, v in init.state.items()})
        systems["started_from"] = VocosBackend(net.eval())
    folder = out.parent / f"{out.stem}-compare"
    res = compare(systems, voices, mel_s, folder, ctx)
    return real_voice_section(res, "ours", "griffinlim32")


def listen(backend: Any, clips: list[np.ndarray], mel_settings) -> float:
    """Mean DNSMOS OVRL of the round trips of ``clips``."""
    from models.eval.vocoders import dnsmos_scores

    return float(np.mean([dnsmos_scores(backend.vocode(log_mel(x, mel_settings).numpy())
                                        [: x.size], mel_settings.sample_rate)["ovrl"]
                          for x in clips]))


def _rtf(ours: VocosBackend, gl: GriffinLimBackend, s) -> dict[str, float]:
    mel = np.random.default_rng(0).normal(-4, 2, (s.n_mels, int(10 * s.frame_rate)))
    mel = mel.astype(np.float32)
    out = {}
    for name, b in (("ours", ours), ("griffinlim", gl)):
        b.vocode(mel)
        t = time.perf_counter()
        b.vocode(mel)
        out[name] = (time.perf_counter() - t) / 10.0
    return out
