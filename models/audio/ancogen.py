"""An AnCoGen-style masked model of speech and its attributes (Sadok et al., ICASSP 2025).

Mel frames and attribute tokens go through one transformer. Per frame: the log-mel (80 bands,
the vocoders' convention), a pitch token (unvoiced, or one of ``f0_bins`` log-spaced bins from
50 to 1100 Hz) and a loudness token (dB bins); per clip: an SNR token and a C50 token (dB
bins). Training masks a random fraction of the mel frames and the complementary fraction of
the attribute tokens, so one model *analyses* (mel given, attributes masked) and *generates*
(attributes given, mel masked). Attribute values are read from the predicted distributions as
their expectation over the bins (sub-bin precision); pitch is unvoiced where the unvoiced
token is most likely.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from models.checkpoints import Checkpoint, load_state
from models.protocol import AttributeSpec, Capability, JobContext, MelSettings


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


def scales(cfg: AnCoGenConfig) -> dict[str, Scale]:
    return {"f0": Scale(cfg.f0_min, cfg.f0_max, cfg.f0_bins, log=True),
            "loud": Scale(cfg.loud_min, cfg.loud_max, cfg.loud_bins),
            "snr": Scale(cfg.snr_min, cfg.snr_max, cfg.snr_bins),
            "c50": Scale(cfg.c50_min, cfg.c50_max, cfg.c50_bins)}


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
                snr: torch.Tensor, c50: torch.Tensor, mel_masked: torch.Tensor
                ) -> dict[str, torch.Tensor]:
        b, t, _ = mel.shape
        if t > self.cfg.max_frames:
            raise ValueError(f"at most {self.cfg.max_frames} frames at once, got {t}")
        m = mel_masked[..., None].to(mel.dtype)
        # The mel is standardised roughly (ln-mel of speech lies within about -11..2).
        x = self.mel_in((mel + 5.0) / 3.0) * (1 - m) + self.mel_mask * m
        x = x + self.f0_emb(f0) + self.loud_emb(loud) + self.kind.weight[0] + self.pos[:t]
        g = torch.stack([self.snr_emb(snr) + self.kind.weight[1],
                         self.c50_emb(c50) + self.kind.weight[2]], 1)
        h = self.norm(self.encoder(torch.cat([g, x], 1)))
        hg, hx = h[:, :2], h[:, 2:]
        return {"mel": self.mel_out(hx) * 3.0 - 5.0, "f0": self.f0_out(hx),
                "loud": self.loud_out(hx), "snr": self.snr_out(hg[:, 0]),
                "c50": self.c50_out(hg[:, 1])}


def config_to_card(cfg: AnCoGenConfig) -> dict[str, Any]:
    return asdict(cfg)


def config_from_card(card: dict[str, Any]) -> AnCoGenConfig:
    return AnCoGenConfig(**card["config"])


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
        ``snr_db``, ``c50_db``, ``voiced_prob`` (T,)."""
        m = torch.as_tensor(np.asarray(mel, np.float32)).T[None].to(self.device)
        t = m.shape[1]
        f0s, louds, snr, c50, voiced = [], [], [], [], []
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
        return {"f0_hz": torch.cat(f0s).cpu().numpy(),
                "loudness_db": torch.cat(louds).cpu().numpy(),
                "voiced_prob": torch.cat(voiced).cpu().numpy(),
                "snr_db": float(sum(snr)), "c50_db": float(sum(c50))}

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
