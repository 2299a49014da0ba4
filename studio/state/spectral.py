"""The Spectrogram panel's state: the clip, its mel and edits, the vocoded result, the
selection, the play cursor and what A/B plays, with change events for the view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.audio import edits
from models.audio.features import mel_to_db
from models.protocol import MelSettings
from studio.state import Events


@dataclass(frozen=True)
class ClipState:
    """A clip with everything the user made on it: what a new take or file replaces."""

    source: tuple[np.ndarray, int]       # as recorded or read, before resampling
    original: np.ndarray                 # at the vocoder's rate
    mel0: np.ndarray
    settings: MelSettings
    ops: tuple[dict[str, Any], ...]
    result: np.ndarray | None


class SpectralState:
    """Events: ``clip`` (a new clip), ``mel`` (an edit or its undo; ``(frame0, frame1)`` of
    what changed, or None), ``result``, ``selection``, ``cursor``, ``listening``."""

    def __init__(self, settings: MelSettings | None = None) -> None:
        self.settings = settings or MelSettings()
        empty = np.zeros(0, np.float32)
        self.source: tuple[np.ndarray, int] = (empty, self.settings.sample_rate)
        self.original = empty
        self.mel0 = np.zeros((self.settings.n_mels, 0), np.float32)
        self.top_db = 0.0
        self.mel = self.mel0
        self.ops: list[dict[str, Any]] = []
        self.result: np.ndarray | None = None
        self.dirty: tuple[int, int] | None = None     # frames edited since the last vocode
        self.selection: tuple[int, int, int, int] | None = None   # t0, t1, f0, f1
        self.clipboard: np.ndarray | None = None
        self.cursor = 0                                # frame where playback starts
        self.listening = "A"
        self.events = Events("clip", "mel", "result", "selection", "cursor", "listening")

    @property
    def rate(self) -> int:
        return self.settings.sample_rate

    @property
    def frames(self) -> int:
        return int(self.mel0.shape[1])

    def snapshot(self) -> ClipState:
        return ClipState(self.source, self.original, self.mel0, self.settings,
                         tuple(self.ops), self.result)

    def set_clip(self, source: tuple[np.ndarray, int], original: np.ndarray,
                 mel0: np.ndarray, settings: MelSettings | None = None,
                 ops: tuple[dict[str, Any], ...] = (), result: np.ndarray | None = None
                 ) -> None:
        """A new clip (analysed with ``settings``) with ``ops`` already made on it."""
        self.settings = settings or self.settings
        self.source = source
        self.original = np.ascontiguousarray(original, np.float32)
        self.mel0 = mel0
        # The loudest level of the clip as analysed (dB): the top of the colour range and
        # where the brush's floor is measured from; once per clip, not per frame or stroke.
        self.top_db = float(mel_to_db(mel0.max())) if mel0.size else 0.0
        self.ops = list(ops)
        self.mel = edits.replay(mel0, self.ops)
        self.result = result
        self.dirty = None
        self.selection = None
        self.cursor = 0
        self.listening = "A"
        self.events.emit("clip")

    def push_op(self, op: dict[str, Any]) -> None:
        self.ops.append(op)
        self.mel = edits.apply(self.mel, op)
        self.events.emit("mel", self._mark_dirty([op]))

    def pop_op(self) -> None:
        op = self.ops.pop()
        self.mel = edits.replay(self.mel0, self.ops)
        self.events.emit("mel", self._mark_dirty([op]))

    def _mark_dirty(self, ops: list[dict[str, Any]]) -> tuple[int, int] | None:
        span = edits.frames_touched(ops, self.frames)
        if span is not None:
            self.dirty = span if self.dirty is None else (min(self.dirty[0], span[0]),
                                                         max(self.dirty[1], span[1]))
        return span

    def set_result(self, audio: np.ndarray | None) -> None:
        """The vocoded clip, fitted to the original's length (None: not vocoded)."""
        if audio is not None:
            y = np.ascontiguousarray(audio[: self.original.size], np.float32)
            audio = np.pad(y, (0, self.original.size - y.size))
            self.dirty = None
        self.result = audio
        self.events.emit("result")

    def set_selection(self, t0: float, t1: float, f0: float, f1: float) -> None:
        """Select frames [t0, t1) and mel bands [f0, f1), clipped to the clip; a selection
        under one frame or band is none."""
        t0, t1 = sorted((max(0.0, t0), min(float(self.frames), t1)))
        f0, f1 = sorted((max(0.0, f0), min(float(self.settings.n_mels), f1)))
        self.selection = (None if t1 - t0 < 1 or f1 - f0 < 1 else
                          (round(t0), round(t1), round(f0), round(f1)))
        self.events.emit("selection")

    def copy_selection(self) -> np.ndarray:
        self.clipboard = edits.copy_patch(self.mel, self.selection)
        return self.clipboard

    def set_cursor(self, frame: float) -> None:
        self.cursor = int(np.clip(frame, 0, max(self.frames - 1, 0)))
        self.events.emit("cursor")

    def set_listening(self, which: str) -> str:
        """A (the original) or B (the vocoded result, when there is one); returns which."""
        self.listening = "B" if which == "B" and self.result is not None else "A"
        self.events.emit("listening")
        return self.listening
