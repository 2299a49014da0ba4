"""An AnCoGen-style masked model of speech and its attributes (Sadok et al., ICASSP 2025).

Mel frames and attribute tokens go through one transformer. Per frame: the log-mel (80 bands,
the vocoders' convention), a pitch token (unvoiced, or one of ``f0_bins`` log-spaced bins from
50 to 1100 Hz) and a loudness token (dB bins); per clip: an SNR token and a C50 token (dB
bins). Training masks a random fraction of the mel frames and the complementary fraction of
the attribute tokens, so one model *analyses* (mel given, attributes masked) and *generates*
(attributes given, mel masked). Attribute values are read from the predicted distributions as
their expectation over the bins (sub-bin precision); pitch is unvoiced where the unvoiced
token is most likely.

What is said is one more attribute, ``content``: per frame, the spectral envelope of the *dry,
clean* speech (cepstral coefficients 1..``content_dims`` of its log-mel: no level, no
harmonics, no noise, no room). Analysis predicts it from whatever audio it hears; generation
reads it, so a sentence can be regenerated with other pitch, loudness, SNR or C50 and keep its
words (:meth:`AnCoGenBackend.edit`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoints import Checkpoint, load_state
from models.protocol import AttributeRequest, AttributeSpec, Capability, JobContext, MelSettings


@dataclass(frozen=True)
class AnCoGenConfig:
    n_mels: int = 80
    dim: int = 128
    layers: int = 4
    heads: int = 4
    max_frames: int = 1024
    f0_bins: int = 120            # log-spaced 50..1100 Hz (~45 cents a bin), + unvoiced
    f0_min: float = 50.0
    f0_max: float = 1100.0
    loud_bins: int = 45           # -90..0 dBFS, 2 dB a bin
    loud_min: float = -90.0
    loud_max: float = 0.0
    snr_bins: int = 28            # -5..50 dB (50: clean)
    snr_min: float = -5.0
    snr_max: float = 50.0
    c50_bins: int = 24            # -5..42 dB (42: dry)
    c50_min: float = -5.0
    c50_max: float = 42.0
    content_dims: int = 0         # envelope cepstra of the clean speech (0: analysis only)

    @property
    def mel(self) -> MelSettings:
        return MelSettings(n_mels=self.n_mels)


class Scale:
    """Values <-> bin indices of one attribute (linear, or log for pitch)."""

    def __init__(self, lo: float, hi: float, bins: int, log: bool = False) -> None:
        self.lo, self.hi, self.bins, self.log = lo, hi, bins, log
        a, b = (math.log(lo), math.log(hi)) if log else (lo, hi)
        self.centres = torch.linspace(a, b, bins)

    def to_bins(self, v: torch.Tensor) -> torch.Tensor:
        x = torch.log(v.clamp(self.lo, self.hi)) if self.log else v.clamp(self.lo, self.hi)
        a, b = float(self.centres[0]), float(self.centres[-1])
        return torch.round((x - a) / (b - a) * (self.bins - 1)).long()

    def expectation(self, probs: torch.Tensor) -> torch.Tensor:
        x = probs @ self.centres.to(probs)
        return torch.exp(x) if self.log else x


def dct_basis(n_mels: int, k: int) -> torch.Tensor:
    """Orthonormal DCT-II rows 1..k over the mel bands, (k, n_mels): row 0 (the level) left
    out."""
    n = torch.arange(n_mels, dtype=torch.float32)
    rows = torch.arange(1, k + 1, dtype=torch.float32)[:, None]
    return torch.cos(math.pi / n_mels * (n + 0.5) * rows) * math.sqrt(2.0 / n_mels)


CONTENT_SCALE = 4.0


def content_of(mel: torch.Tensor, k: int) -> torch.Tensor:
    """The content stream of log-mel frames (..., T, n_mels): envelope cepstra (..., T, k),
    scaled to about unit size."""
    return mel @ dct_basis(mel.shape[-1], k).to(mel).T / CONTENT_SCALE


def scales(cfg: AnCoGenConfig) -> dict[str, Scale]:
    return {"f0": Scale(cfg.f0_min, cfg.f0_max, cfg.f0_bins, log=True),
            "loud": Scale(cfg.loud_min, cfg.loud_max, cfg.loud_bins),
            "snr": Scale(cfg.snr_min, cfg.snr_max, cfg.snr_bins),
            "c50": Scale(cfg.c50_min, cfg.c50_max, cfg.c50_bins)}


def f0_tokens(cfg: AnCoGenConfig, f0_hz: torch.Tensor) -> torch.Tensor:
    """Pitch tokens of f0 values (Hz): 0 where unvoiced (f0 <= 0), else 1 + its bin."""
    scale = Scale(cfg.f0_min, cfg.f0_max, cfg.f0_bins, log=True)
    return torch.where(f0_hz > 0, 1 + scale.to_bins(f0_hz.clamp_min(cfg.f0_min)),
                       torch.zeros_like(f0_hz, dtype=torch.long))


class AnCoGen(nn.Module):
    """(mel (B, T, n_mels), tokens, masks) -> predicted mel and attribute logits.

    Token conventions: f0 tokens are 0 (unvoiced) or 1 + bin; every attribute's mask token is
    its last index."""

    def __init__(self, cfg: AnCoGenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.mel_in = nn.Linear(cfg.n_mels, d)
        self.mel_mask = nn.Parameter(torch.zeros(d))
        self.f0_emb = nn.Embedding(cfg.f0_bins + 2, d)          # unvoiced, bins, mask
        self.loud_emb = nn.Embedding(cfg.loud_bins + 1, d)
        self.snr_emb = nn.Embedding(cfg.snr_bins + 1, d)
        self.c50_emb = nn.Embedding(cfg.c50_bins + 1, d)
        self.kind = nn.Embedding(3, d)                          # frame, snr, c50
        if cfg.content_dims:
            self.content_in = nn.Linear(cfg.content_dims, d)
            self.content_mask = nn.Parameter(torch.zeros(d))
            self.content_out = nn.Linear(d, cfg.content_dims)
        self.pos = nn.Parameter(torch.randn(cfg.max_frames, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, cfg.heads, 4 * d, dropout=0.0,
                                           batch_first=True, norm_first=True,
                                           activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.mel_out = nn.Linear(d, cfg.n_mels)
        self.f0_out = nn.Linear(d, cfg.f0_bins + 1)
        self.loud_out = nn.Linear(d, cfg.loud_bins)
        self.snr_out = nn.Linear(d, cfg.snr_bins)
        self.c50_out = nn.Linear(d, cfg.c50_bins)

    def forward(self, mel: torch.Tensor, f0: torch.Tensor, loud: torch.Tensor,
                snr: torch.Tensor, c50: torch.Tensor, mel_masked: torch.Tensor,
                content: torch.Tensor | None = None,
                content_masked: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``content`` (B, T, content_dims) with ``content_masked`` (B, T); without them the
        content is masked everywhere."""
        b, t, _ = mel.shape
        if t > self.cfg.max_frames:
            raise ValueError(f"at most {self.cfg.max_frames} frames at once, got {t}")
        m = mel_masked[..., None].to(mel.dtype)
        # The mel is standardised roughly (ln-mel of speech lies within about -11..2).
        x = self.mel_in((mel + 5.0) / 3.0) * (1 - m) + self.mel_mask * m
        x = x + self.f0_emb(f0) + self.loud_emb(loud) + self.kind.weight[0] + self.pos[:t]
        if self.cfg.content_dims:
            if content is None:
                x = x + self.content_mask
            else:
                cm = (torch.ones(b, t, dtype=torch.bool, device=mel.device)
                      if content_masked is None else content_masked)[..., None].to(mel.dtype)
                x = x + self.content_in(content) * (1 - cm) + self.content_mask * cm
        g = torch.stack([self.snr_emb(snr) + self.kind.weight[1],
                         self.c50_emb(c50) + self.kind.weight[2]], 1)
        h = self.norm(self.encoder(torch.cat([g, x], 1)))
        hg, hx = h[:, :2], h[:, 2:]
        out = {"mel": self.mel_out(hx) * 3.0 - 5.0, "f0": self.f0_out(hx),
               "loud": self.loud_out(hx), "snr": self.snr_out(hg[:, 0]),
               "c50": self.c50_out(hg[:, 1])}
        if self.cfg.content_dims:
            out["content"] = self.content_out(hx)
        return out


def config_to_card(cfg: AnCoGenConfig) -> dict[str, Any]:
    return asdict(cfg)


def config_from_card(card: dict[str, Any]) -> AnCoGenConfig:
    return AnCoGenConfig(**card["config"])


def init_from(net: AnCoGen, state: dict[str, torch.Tensor]) -> list[str]:
    """Start ``net`` from an earlier model's weights (the shared layers); the names of the
    layers that stay new."""
    want = net.state_dict()
    take = {k: v.float() for k, v in state.items()
            if k in want and tuple(v.shape) == tuple(want[k].shape)}
    net.load_state_dict(take, strict=False)
    return sorted(k for k in want if k not in take)


class AnCoGenBackend:
    """Analysis of speech: per-frame pitch and loudness, per-clip SNR and C50."""

    info: Any = None

    def __init__(self, net: AnCoGen, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.cfg = net.cfg
        self.scales = scales(net.cfg)

    @property
    def mel_settings(self) -> MelSettings:
        return self.cfg.mel

    def masked_tokens(self, b: int, t: int) -> dict[str, torch.Tensor]:
        c = self.cfg
        dev = self.device
        return {"f0": torch.full((b, t), c.f0_bins + 1, dtype=torch.long, device=dev),
                "loud": torch.full((b, t), c.loud_bins, dtype=torch.long, device=dev),
                "snr": torch.full((b,), c.snr_bins, dtype=torch.long, device=dev),
                "c50": torch.full((b,), c.c50_bins, dtype=torch.long, device=dev)}

    @torch.inference_mode()
    def analyse_mel(self, mel: np.ndarray) -> dict[str, Any]:
        """Attributes of a log-mel (n_mels, T): ``f0_hz`` (T,), ``loudness_db`` (T,),
        ``snr_db``, ``c50_db``, ``voiced_prob`` (T,), and where the model has it ``content``
        (T, content_dims)."""
        m = torch.as_tensor(np.asarray(mel, np.float32)).T[None].to(self.device)
        t = m.shape[1]
        f0s, louds, snr, c50, voiced, content = [], [], [], [], [], []
        step = self.cfg.max_frames
        for a in range(0, t, step):
            chunk = m[:, a:a + step]
            n = chunk.shape[1]
            tok = self.masked_tokens(1, n)
            out = self.net(chunk, tok["f0"], tok["loud"], tok["snr"], tok["c50"],
                           torch.zeros(1, n, dtype=torch.bool, device=self.device))
            pf = torch.softmax(out["f0"][0].float(), -1)
            p_voiced = 1 - pf[:, 0]
            f0 = self.scales["f0"].expectation(pf[:, 1:] / pf[:, 1:].sum(-1, keepdim=True))
            f0s.append(torch.where(p_voiced > 0.5, f0, torch.zeros_like(f0)))
            voiced.append(p_voiced)
            louds.append(self.scales["loud"].expectation(torch.softmax(out["loud"][0], -1)))
            w = n / max(t, 1)
            snr.append(w * self.scales["snr"].expectation(torch.softmax(out["snr"][0], -1)))
            c50.append(w * self.scales["c50"].expectation(torch.softmax(out["c50"][0], -1)))
            if "content" in out:
                content.append(out["content"][0])
        res = {"f0_hz": torch.cat(f0s).cpu().numpy(),
               "loudness_db": torch.cat(louds).cpu().numpy(),
               "voiced_prob": torch.cat(voiced).cpu().numpy(),
               "snr_db": float(sum(snr)), "c50_db": float(sum(c50))}
        if content:
            res["content"] = torch.cat(content).cpu().numpy()
        return res

    @property
    def can_generate(self) -> bool:
        return self.cfg.content_dims > 0

    @torch.inference_mode()
    def generate_mel(self, content: np.ndarray, f0_hz: np.ndarray,
                     loudness_db: np.ndarray | None, snr_db: float, c50_db: float,
                     ctx: JobContext | None = None) -> np.ndarray:
        """A log-mel (n_mels, T) that says ``content`` (T, content_dims) with these
        attributes: pitch per frame (0: unvoiced), loudness per frame (None: the model's
        choice), SNR and C50 of the clip."""
        if not self.can_generate:
            raise ValueError("this attribute model analyses only (it has no content stream)")
        c = self.cfg
        sc = self.scales
        dev = self.device
        content_t = torch.as_tensor(np.asarray(content, np.float32), device=dev)[None]
        f0 = torch.as_tensor(np.asarray(f0_hz, np.float32), device=dev)[None]
        t = content_t.shape[1]
        if f0.shape[1] != t or (loudness_db is not None and len(loudness_db) != t):
            raise ValueError("content, pitch and loudness must have one value per frame")
        f0_tok = f0_tokens(c, f0)
        if loudness_db is None:
            loud_tok = torch.full((1, t), c.loud_bins, dtype=torch.long, device=dev)
        else:
            loud_tok = sc["loud"].to_bins(torch.as_tensor(
                np.asarray(loudness_db, np.float32), device=dev)[None])
        snr_tok = sc["snr"].to_bins(torch.tensor([float(snr_db)], device=dev))
        c50_tok = sc["c50"].to_bins(torch.tensor([float(c50_db)], device=dev))
        outs = []
        step = c.max_frames
        for a in range(0, t, step):
            if ctx is not None:
                ctx.check()
                ctx.report(a / max(t, 1))
            n = min(step, t - a)
            out = self.net(torch.zeros(1, n, c.n_mels, device=dev), f0_tok[:, a:a + n],
                           loud_tok[:, a:a + n], snr_tok, c50_tok,
                           torch.ones(1, n, dtype=torch.bool, device=dev),
                           content_t[:, a:a + n], torch.zeros(1, n, dtype=torch.bool,
                                                               device=dev))
            outs.append(out["mel"][0])
        return torch.cat(outs).T.float().cpu().numpy()

    def edit(self, request: AttributeRequest, *, ctx: JobContext | None = None
             ) -> np.ndarray:
        """The mel of ``request`` regenerated with its attributes changed: ``pitch``
        (semitones, relative), ``loudness`` (dB, relative), ``snr`` and ``c50`` (dB
        targets); a drawn ``pitch`` curve (Hz per frame, 0 unvoiced) replaces the analysed
        one before the shift. What is said comes from the analysed content."""
        plan = self.plan(request)
        return self.generate_mel(plan["content"], plan["f0_hz"], plan["loudness_db"],
                                 plan["snr_db"], plan["c50_db"], ctx)

    def plan(self, request: AttributeRequest, content: str = "analysed") -> dict[str, Any]:
        """The analysis of ``request.mel`` and the attribute values it asks for. ``content``:
        "analysed" (what the model reads as the clean speech's envelope) or "signal" (the
        clip's own envelope cepstra: exact for clean, dry speech, noisy otherwise)."""
        known = {"pitch", "loudness", "snr", "c50"}
        bad = sorted(set(request.changes) - known) + sorted(set(request.curves) - {"pitch"})
        if bad:
            raise ValueError(f"unknown attribute change: {', '.join(bad)}")
        a = self.analyse_mel(request.mel)
        t = a["f0_hz"].size
        f0 = a["f0_hz"]
        if "pitch" in request.curves:
            f0 = np.asarray(request.curves["pitch"], np.float32)
            if f0.shape != (t,):
                raise ValueError(f"the pitch curve needs {t} values, one per frame")
        f0 = np.where(f0 > 0, f0 * 2.0 ** (request.changes.get("pitch", 0.0) / 12.0), 0.0)
        f0 = np.where(f0 > 0, np.clip(f0, self.cfg.f0_min, self.cfg.f0_max), 0.0)
        cleanup = "snr" in request.changes or "c50" in request.changes
        loud = None if cleanup else a["loudness_db"] + request.changes.get("loudness", 0.0)
        clamp = {"snr": (self.cfg.snr_min, self.cfg.snr_max),
                 "c50": (self.cfg.c50_min, self.cfg.c50_max)}
        target = {k: float(np.clip(request.changes.get(k, a[f"{k}_db"]), *clamp[k]))
                  for k in ("snr", "c50")}
        if content not in ("analysed", "signal"):
            raise ValueError(f"content is 'analysed' or 'signal', not '{content}'")
        stream = a.get("content")
        if content == "signal" and stream is not None:
            stream = content_of(torch.as_tensor(np.asarray(request.mel, np.float32)).T,
                                self.cfg.content_dims).numpy()
        return {"analysis": a, "content": stream,
                "f0_hz": f0.astype(np.float32), "loudness_db": loud,
                "snr_db": target["snr"], "c50_db": target["c50"]}

    def analyse_attributes(self, mel: np.ndarray, *, ctx: JobContext | None = None
                           ) -> dict[str, np.ndarray]:
        """Per attribute of :data:`ATTRIBUTES`: a curve (T,) or one value (1,)."""
        a = self.analyse_mel(mel)
        return {"pitch": a["f0_hz"], "loudness": a["loudness_db"],
                "snr": np.array([a["snr_db"]], np.float32),
                "c50": np.array([a["c50_db"]], np.float32)}

    def analyse(self, audio: np.ndarray) -> dict[str, Any]:
        """Attributes of 16 kHz mono audio (see :meth:`analyse_mel`), with ``frame_rate``."""
        from models.audio.features import log_mel

        mel = log_mel(np.asarray(audio, np.float32), self.mel_settings).numpy()
        out = self.analyse_mel(mel)
        out["frame_rate"] = self.mel_settings.frame_rate
        return out


ATTRIBUTES = (
    AttributeSpec("pitch", "Hz", 0.0, 1100.0, per_frame=True,
                  help="fundamental frequency per frame, 0 where unvoiced"),
    AttributeSpec("loudness", "dB", -90.0, 0.0, per_frame=True,
                  help="RMS level per frame, dB full scale"),
    AttributeSpec("snr", "dB", -5.0, 50.0, help="speech-to-noise ratio (50: clean)"),
    AttributeSpec("c50", "dB", -5.0, 42.0,
                  help="clarity: early (50 ms) over late reverberant energy (42: dry)"),
)


def describe(card: dict[str, Any]) -> dict[str, Any]:
    cfg = config_from_card(card)
    return {"capabilities": Capability.ATTRIBUTES, "mel": cfg.mel, "attributes": ATTRIBUTES,
            "description": card.get("description", "speech attribute model")}


def load(ckpt: Checkpoint, device: str) -> AnCoGenBackend:
    net = AnCoGen(config_from_card(ckpt.card))
    load_state(net, ckpt.state)
    return AnCoGenBackend(net, device)
