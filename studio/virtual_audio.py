"""A user-space PulseAudio server with a null sink: a real audio device on machines without
a sound card (tests, benchmarks, headless demos).

What is played to the sink ``vsink`` can be recorded from its monitor ``vsink.monitor``, which
is made the default input. ``python -m studio.virtual_audio start|stop|status``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

SINK = "vsink"


def _pactl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=10)


def running() -> bool:
    if shutil.which("pactl") is None:
        return False
    try:
        out = _pactl("list", "short", "sinks")
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and SINK in out.stdout


_restore: dict[str, str] = {}


def _server_up() -> bool:
    try:
        return _pactl("info").returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _default(kind: str) -> str:
    for line in _pactl("info").stdout.splitlines():
        if line.startswith(f"Default {kind}:"):
            return line.split(":", 1)[1].strip()
    return ""


def start(rate: int = 16000) -> bool:
    """Make the null sink the default device; True if this call set anything up.

    Where a sound server already runs (a desktop), the sink is added to it and the previous
    default devices are put back by :func:`stop`; elsewhere a server of our own is started.
    """
    if running():
        return False
    if shutil.which("pulseaudio") is None:
        raise RuntimeError("pulseaudio is not installed; run scripts/system-deps.sh")
    _restore.clear()
    if _server_up():
        _restore.update(sink=_default("Sink"), source=_default("Source"))
        out = _pactl("load-module", "module-null-sink", f"sink_name={SINK}", f"rate={rate}",
                     "channels=1")
        _restore["module"] = out.stdout.strip()
    else:
        subprocess.run(
            ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1",
             "-L", "module-native-protocol-unix",
             "-L", f"module-null-sink sink_name={SINK} rate={rate} channels=1"],
            capture_output=True, timeout=30, check=False)
    deadline = time.monotonic() + 10
    while not running():
        if time.monotonic() > deadline:
            raise RuntimeError("the virtual PulseAudio device did not start")
        time.sleep(0.1)
    _pactl("set-default-sink", SINK)
    _pactl("set-default-source", f"{SINK}.monitor")
    return True


def stop() -> None:
    """Undo :func:`start`: stop our server, or take our sink out of the user's."""
    if "module" in _restore:
        remove_sink()
        for kind in ("sink", "source"):
            if _restore.get(kind):
                _pactl(f"set-default-{kind}", _restore[kind])
        _restore.clear()
        return
    subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=10)
    deadline = time.monotonic() + 5
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)


def remove_sink() -> None:
    """Unload the null sink (a device vanishing, as when a headset is unplugged)."""
    out = _pactl("list", "short", "modules")
    for line in out.stdout.splitlines():
        if "module-null-sink" in line and f"sink_name={SINK}" in line:
            _pactl("unload-module", line.split()[0])


def main(argv: list[str] | None = None) -> int:
    cmd = (argv or sys.argv[1:] or ["status"])[0]
    if cmd == "start":
        start()
    elif cmd == "stop":
        stop()
    print("running" if running() else "stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
