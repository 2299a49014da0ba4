"""What the Speech attributes panel edits (Qt-free): a clip, the relative changes (pitch
semitones, loudness dB), the targets (SNR, C50; None: as analysed), a drawn pitch curve, and
how the edit is made (formants kept; the recording kept or the whole clip regenerated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

PITCH_LIMIT = 12.0          # semitones either way
LOUDNESS_LIMIT = 20.0       # dB either way
SNR_RANGE = (0.0, 50.0)
C50_RANGE = (-5.0, 42.0)


@dataclass
class SpeechAttributesDoc:
    model: str = ""
    vocoder: str = ""
    audio: np.ndarray | None = None          # mono float32 at the models' rate
    label: str = ""
    pitch: float = 0.0                       # semitones
    loudness: float = 0.0                    # dB
    snr: float | None = None                 # target dB; None: keep
    c50: float | None = None                 # target dB; None: keep
    drawn: np.ndarray | None = None          # Hz per frame; NaN where not drawn, 0 unvoiced
    keep_formants: bool = True               # pitch moves, the vowels' envelope stays
    regenerate: bool = False                 # the whole clip through the model and vocoder
    source_rate: int = 0                     # the clip's own rate (exports keep it); 0: ours

    def changes(self) -> dict[str, float]:
        out = {"pitch": self.pitch, "loudness": self.loudness, "snr": self.snr,
               "c50": self.c50}
        return {k: float(v) for k, v in out.items()
                if v is not None and not (k in ("pitch", "loudness") and v == 0.0)}

    def curves(self, analysed_f0: np.ndarray | None) -> dict[str, np.ndarray]:
        """The pitch curve to regenerate from: the analysed one with the drawn frames put in
        (none when nothing is drawn)."""
        if self.drawn is None or analysed_f0 is None or not np.isfinite(self.drawn).any():
            return {}
        f0 = np.asarray(analysed_f0, np.float32).copy()
        n = min(f0.size, self.drawn.size)
        d = self.drawn[:n]
        f0[:n] = np.where(np.isfinite(d), d, f0[:n])
        return {"pitch": f0}

    def draw(self, frames: int, points: list[tuple[float, float]]) -> None:
        """Put a stroke of (frame, Hz) points into the drawn curve (linear between them)."""
        if self.drawn is None or self.drawn.size != frames:
            self.drawn = np.full(frames, np.nan, np.float32)
        else:
            self.drawn = self.drawn.copy()
        pts = sorted((float(f), float(h)) for f, h in points)
        if not pts:
            return
        xs = np.array([p[0] for p in pts])
        hz = np.array([p[1] for p in pts])
        a = int(np.clip(np.floor(xs.min()), 0, frames - 1))
        b = int(np.clip(np.ceil(xs.max()), 0, frames - 1))
        idx = np.arange(a, b + 1)
        self.drawn[idx] = np.interp(idx, xs, hz).astype(np.float32)

    @property
    def edited(self) -> bool:
        return bool(self.changes()) or (self.drawn is not None
                                        and bool(np.isfinite(self.drawn).any()))

    def state(self) -> dict[str, Any]:
        return {"model": self.model, "vocoder": self.vocoder, "audio": self.audio,
                "label": self.label, "pitch": self.pitch, "loudness": self.loudness,
                "snr": self.snr, "c50": self.c50, "drawn": self.drawn,
                "keep_formants": self.keep_formants, "regenerate": self.regenerate,
                "source_rate": self.source_rate}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SpeechAttributesDoc:
        def arr(v: Any) -> np.ndarray | None:
            return None if v is None else np.asarray(v, np.float32)

        def opt(v: Any, lo: float, hi: float) -> float | None:
            return None if v is None else float(np.clip(float(v), lo, hi))

        return cls(model=str(state.get("model", "")), vocoder=str(state.get("vocoder", "")),
                   audio=arr(state.get("audio")), label=str(state.get("label", "")),
                   pitch=float(np.clip(float(state.get("pitch", 0.0)), -PITCH_LIMIT,
                                       PITCH_LIMIT)),
                   loudness=float(np.clip(float(state.get("loudness", 0.0)),
                                          -LOUDNESS_LIMIT, LOUDNESS_LIMIT)),
                   snr=opt(state.get("snr"), *SNR_RANGE), c50=opt(state.get("c50"), *C50_RANGE),
                   drawn=arr(state.get("drawn")),
                   keep_formants=bool(state.get("keep_formants", True)),
                   regenerate=bool(state.get("regenerate", False)),
                   source_rate=int(state.get("source_rate", 0) or 0))
