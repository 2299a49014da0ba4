"""Audio devices through sounddevice (the only module that imports it).

Streams run in PortAudio's own threads: the UI thread only starts and stops them and polls
their position and level, so playing or recording never stalls the window. A device that is
missing or disappears becomes an :class:`AudioError` with a message fit for the status bar.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class AudioError(RuntimeError):
    """No usable device, a device that went away, or a file that cannot be played."""


def _sd():
    try:
        import sounddevice
    except OSError as exc:  # PortAudio missing
        raise AudioError(f"audio is unavailable: {exc}") from None
    return sounddevice


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float


def refresh_devices() -> None:
    """Let PortAudio look for devices again (one plugged in or started after launch)."""
    sd = _sd()
    try:
        sd._terminate()
        sd._initialize()
    except sd.PortAudioError as exc:
        raise AudioError(f"audio devices could not be listed ({exc})") from None


def devices(kind: str = "input") -> list[Device]:
    """Devices with at least one ``kind`` ("input" or "output") channel."""
    sd = _sd()
    try:
        found = sd.query_devices()
    except sd.PortAudioError as exc:
        raise AudioError(f"audio devices could not be listed ({exc})") from None
    key = "max_input_channels" if kind == "input" else "max_output_channels"
    return [Device(i, d["name"], d["max_input_channels"], d["max_output_channels"],
                   d["default_samplerate"]) for i, d in enumerate(found) if d[key] > 0]


def _check_device(device: int | str | None, kind: str) -> None:
    if not devices(kind):
        raise AudioError(f"no audio {kind} device found; connect one (or start the sound "
                         "server) and try again")


def _close(stream) -> None:
    if stream is None:
        return
    try:
        stream.abort()
        stream.close()
    except Exception:  # noqa: BLE001 - a vanished device may fail to close; it is gone
        pass


class Player:
    """Plays one clip at a time from a start sample, optionally looping a range.

    ``position`` (samples) moves as PortAudio asks for audio; ``playing`` turns False at the
    end of a clip that does not loop, or on :meth:`stop`.
    """

    # An explicit latency and block size for both directions: through PulseAudio's ALSA
    # plugin, 'low' stalls and the defaults often start about 2 s late, losing the start of a
    # take; 25 ms blocks at 100 ms latency started at once in every trial here. The cursor
    # comes from the DAC times PortAudio reports, so the device's own delay does not fool it.
    LATENCY_S = 0.1
    BLOCK_S = 0.025

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stream = None
        self._audio = np.zeros(0, np.float32)
        self._pos = 0
        self._start = 0
        self._marks: list[tuple[float, int, int]] = []   # (DAC time, first sample, length)
        self._loop: tuple[int, int] | None = None
        self._done = threading.Event()
        self._done.set()
        self.rate = 0
        self.error: str = ""
        # Of the clip playing (or played last): blocks the device ran out of audio in
        # (PortAudio's output underflow: heard as a click or gap), and blocks that did not
        # follow on from the one before (never, short of a bug: playback is gapless).
        self.underflows = 0
        self.gaps = 0
        # The clip played to its end (every sample handed over, the stream left to drain),
        # not stopped before: what "heard to the end" means.
        self.ended = False
        self._next = -1

    @property
    def position(self) -> int:
        """The sample being heard now (what was handed to the device, less its latency)."""
        with self._lock:
            stream, marks = self._stream, list(self._marks)
            if stream is None or not marks:
                return self._start
            try:
                now = stream.time
            except Exception:  # noqa: BLE001 - a closed or vanished stream has no clock
                return marks[-1][1]
        # The newest block whose first sample has reached the speaker by now.
        heard = [m for m in marks if m[0] <= now]
        if not heard:
            return marks[0][1]
        dac, first, n = heard[-1]
        return first + min(int((now - dac) * self.rate), max(n - 1, 0))

    @property
    def playing(self) -> bool:
        return not self._done.is_set()

    def play(self, audio: np.ndarray, rate: int, start: int = 0,
             loop: tuple[int, int] | None = None, device: int | str | None = None) -> None:
        sd = _sd()
        self.stop()
        _check_device(device, "output")
        audio = np.ascontiguousarray(audio, np.float32).reshape(-1)
        if audio.size == 0:
            raise AudioError("nothing to play: the clip is empty")
        with self._lock:
            self._audio = audio
            self._pos = int(np.clip(start, 0, audio.size - 1))
            self._marks = []
            self._loop = None
            if loop is not None and loop[1] - loop[0] >= rate // 50:
                self._loop = (max(0, int(loop[0])), min(audio.size, int(loop[1])))
                if not self._loop[0] <= self._pos < self._loop[1]:
                    self._pos = self._loop[0]
            self._start = self._pos
            self.underflows, self.gaps, self._next = 0, 0, self._pos
            self.ended = False
        self.rate = rate
        self.error = ""
        self._done.clear()
        try:
            self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32",
                                           device=device, callback=self._callback,
                                           finished_callback=self._done.set,
                                           latency=self.LATENCY_S,
                                           blocksize=int(rate * self.BLOCK_S))
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._done.set()
            self._stream = None
            raise AudioError(f"the output device could not play this ({exc})") from None

    def _callback(self, outdata, frames, when, status) -> None:
        sd = _sd()
        with self._lock:
            if status.output_underflow:
                self.underflows += 1
            out = outdata[:, 0]
            filled = 0
            dac = float(when.outputBufferDacTime)
            while filled < frames:
                end = self._loop[1] if self._loop else self._audio.size
                n = min(frames - filled, end - self._pos)
                if n <= 0:
                    if self._loop:
                        self._pos = self._next = self._loop[0]
                        continue
                    out[filled:] = 0.0
                    self.ended = True
                    raise sd.CallbackStop
                if self._pos != self._next:
                    self.gaps += 1
                self._next = self._pos + n
                out[filled:filled + n] = self._audio[self._pos:self._pos + n]
                self._marks.append((dac + filled / self.rate, self._pos, n))
                self._pos += n
                filled += n
            del self._marks[:-64]

    def stop(self) -> None:
        stream, self._stream = self._stream, None
        _close(stream)
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


STOP_WAIT_S = 1.0      # the longest Stop waits for audio still on its way


class Recorder:
    """Records mono float32 from an input device; level and length readable while it runs.

    The input stream stays open between takes ("armed"): a sound server can take a second or
    more to deliver the first block of a new stream, which would cut the start of a take. The
    studio arms it at startup, so even the first take starts when Record is pressed; a take
    begins with the first sample captured at or after the press (PortAudio's capture times),
    and :attr:`start_delay` says how late that sample was. :attr:`live` says when audio
    really flows, so the window can say "starting…" until then. The level meter works
    whenever it is armed.

    If the device stops delivering audio (unplugged, sound server gone) :attr:`error` says so
    and what was recorded up to then is kept.
    """

    STALL_S = 1.5          # silence from a flowing stream that means the device went away
    START_S = 8.0          # how long a new stream may take to deliver its first block

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: list[np.ndarray] = []
        self._frames = 0
        self._peak = 0.0
        self._stream = None
        self._key: tuple[int, int | str | None] | None = None
        self._capturing = False
        self._opened = 0.0
        self._last_block = 0.0
        self.rate = 0
        self.error = ""
        self._press = 0.0                  # stream time when Record was pressed
        self._adc_end = 0.0                # capture time just after the newest block
        self.start_delay: float | None = None   # capture time of the take's first sample

    @property
    def recording(self) -> bool:
        return self._capturing

    @property
    def armed(self) -> bool:
        return self._stream is not None

    @property
    def live(self) -> bool:
        """Whether the device has delivered audio since the stream opened."""
        return self._last_block > 0.0

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._frames / self.rate if self.rate else 0.0

    def level_db(self) -> float:
        """Peak level of the input since the last call, in dBFS (-100 for silence)."""
        with self._lock:
            peak, self._peak = self._peak, 0.0
        return 20 * float(np.log10(max(peak, 1e-5)))

    def arm(self, rate: int, device: int | str | None = None) -> None:
        """Open the input stream (if it is not open on this device and rate already)."""
        if self._stream is not None and self._key == (rate, device) and not self.error:
            return
        sd = _sd()
        self.disarm()
        _check_device(device, "input")
        self.rate = rate
        self.error = ""
        self._last_block = 0.0
        self._opened = time.monotonic()
        try:
            self._stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32",
                                          device=device, callback=self._callback,
                                          finished_callback=self._finished,
                                          latency=Player.LATENCY_S,
                                          blocksize=int(rate * Player.BLOCK_S))
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioError(f"the input device could not record ({exc})") from None
        self._key = (rate, device)

    def start(self, rate: int, device: int | str | None = None) -> None:
        """Begin a take (arming first if needed)."""
        self.arm(rate, device)
        with self._lock:
            self._blocks, self._frames = [], 0
            self._press = self._stream_time()
            self.start_delay = None
            self._capturing = True

    def _stream_time(self) -> float:
        try:
            return float(self._stream.time) if self._stream is not None else 0.0
        except Exception:  # a stream that went away has no clock
            return 0.0

    def _callback(self, indata, frames, when, status) -> None:
        block = indata[:, 0].copy()
        adc = float(getattr(when, "inputBufferAdcTime", 0.0) or 0.0)
        with self._lock:
            self._adc_end = adc + frames / self.rate if adc > 0 else 0.0
            if self._capturing and self.start_delay is None:
                if adc > 0 and self._press > 0:
                    # The take's first block: drop what was captured before Record.
                    skip = int(round((self._press - adc) * self.rate))
                    if skip >= frames:
                        block = block[:0]
                    else:
                        block = block[max(skip, 0):]
                        self.start_delay = max(0.0, adc - self._press)
                else:
                    self.start_delay = math.nan      # no capture clock to measure with
            if self._capturing and block.size:
                self._blocks.append(block)
                self._frames += block.size
            self._peak = max(self._peak, float(np.abs(indata).max()) if frames else 0.0)
        self._last_block = time.monotonic()

    def _finished(self) -> None:
        if self._stream is not None and not self.error:
            self.error = "the input device stopped delivering audio (disconnected?)"

    def check(self) -> str:
        """Poll from the UI: the error, if the device went away (or never started)."""
        if self._stream is not None and not self.error:
            now = time.monotonic()
            if self._last_block and now - self._last_block > self.STALL_S:
                self.error = "the input device stopped delivering audio (disconnected?)"
            elif not self._last_block and now - self._opened > self.START_S:
                self.error = "the input device delivered no audio"
        return self.error

    def snapshot(self, last: int) -> np.ndarray:
        """The last ``last`` samples of the take so far (for a live view)."""
        with self._lock:
            out, n = [], 0
            for block in reversed(self._blocks):
                out.append(block)
                n += block.size
                if n >= last:
                    break
        return np.concatenate(out[::-1])[-last:] if out else np.zeros(0, np.float32)

    def stop(self, wait: float = STOP_WAIT_S) -> np.ndarray:
        """End the take at this moment and return it; the stream stays open for the next.

        Audio captured before Stop may still be on its way (the input's latency): wait for
        it, at most ``wait`` seconds, so a take holds all it was held for, then cut what was
        captured after Stop."""
        end = self._stream_time()
        deadline = time.monotonic() + wait
        while (end > 0 and 0 < self._adc_end < end and not self.error
               and time.monotonic() < deadline):
            time.sleep(0.005)
        with self._lock:
            self._capturing = False
            take = np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)
            self._blocks = []
            if end > 0 and self._adc_end > end and take.size:
                take = take[: max(0, take.size - int(round((self._adc_end - end) * self.rate)))]
        if self.error:
            self.disarm()
        return take

    def disarm(self) -> None:
        """Close the input stream."""
        stream, self._stream = self._stream, None
        self._key = None
        self._capturing = False
        _close(stream)


_player: Player | None = None


def player() -> Player:
    """The process-wide player (one sound at a time, as users expect)."""
    global _player
    if _player is None:
        _player = Player()
    return _player


def play_file(path: str | Path) -> float:
    """Start playing a file without blocking; returns its length in seconds."""
    from models.audio.io import AudioFileError, read_audio

    try:
        clip = read_audio(path, max_seconds=math.inf)
    except AudioFileError as exc:
        raise AudioError(str(exc)) from None
    play(clip.audio, clip.rate)
    return clip.audio.size / clip.rate


def play(data: np.ndarray, sr: int) -> None:
    player().play(np.asarray(data, np.float32).reshape(len(data), -1).mean(axis=1), sr)


def stop() -> None:
    try:
        player().stop()
    except AudioError:
        pass
