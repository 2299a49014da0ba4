"""Users' BigVGAN folders (config.json + bigvgan_generator.pt), run by the bigvgan package:
a tiny model built and saved by the package here; equal to the package's own output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from models.checkpoints import CheckpointError
from models.protocol import Capability
from models.registry import Registry
from models.tasks.audio import round_trip

CONFIG = {"resblock": "1", "upsample_rates": [4, 4], "upsample_kernel_sizes": [8, 8],
          "upsample_initial_channel": 32, "resblock_kernel_sizes": [3, 5],
          "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "activation": "snakebeta",
          "snake_logscale": True, "use_tanh_at_final": False, "use_bias_at_final": False,
          "num_mels": 20, "n_fft": 256, "hop_size": 16, "win_size": 64,
          "sampling_rate": 8000, "fmin": 0, "fmax": None, "num_gpus": 0, "batch_size": 4}


def build(folder: Path, seed: int = 0, **over) -> Path:
    """A tiny BigVGAN v2-style generator saved as the official repository saves it."""
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict

    cfg = {**CONFIG, **over}
    torch.manual_seed(seed)
    net = BigVGAN(AttrDict(cfg), use_cuda_kernel=False)
    with torch.no_grad():                 # snake parameters away from their init, so they matter
        for name, p in net.named_parameters():
            if name.endswith(("alpha", "beta")):
                p.add_(torch.randn_like(p) * 0.3)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"generator": net.state_dict()}, folder / "bigvgan_generator.pt")
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def tone(rate: int = 8000, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
            ).astype(np.float32)


def snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - out) ** 2), 1e-30)))


def test_a_bigvgan_folder_is_its_own_family_with_its_own_mel(tmp_path):
    folder = build(tmp_path / "bigvgan_tiny")
    reg = Registry(None)
    for path in (folder, folder / "bigvgan_generator.pt"):
        info = reg.add_checkpoint(path)
        assert info.family == "bigvgan" and Capability.VOCODE in info.capabilities
        assert (info.mel.sample_rate, info.mel.n_mels, info.mel.hop, info.mel.fmax) == (
            8000, 20, 16, 4000.0)


def test_analysis_and_vocoding_equal_the_packages_own(tmp_path):
    from bigvgan.bigvgan import BigVGAN
    from bigvgan.env import AttrDict
    from bigvgan.meldataset import get_mel_spectrogram

    folder = build(tmp_path / "v2")
    reg = Registry(None)
    backend = reg.get(reg.add_checkpoint(folder).name)
    x = tone()
    mel = backend.analyse(x)
    y = backend.vocode(mel)

    h = AttrDict(json.loads((folder / "config.json").read_text()))
    ref_net = BigVGAN(h, use_cuda_kernel=False)
    ref_net.load_state_dict(torch.load(folder / "bigvgan_generator.pt",
                                       weights_only=True)["generator"])
    ref_net.remove_weight_norm()
    ref_net.eval()
    with torch.no_grad():
        ref_mel = get_mel_spectrogram(torch.from_numpy(x)[None], h)
        ref = ref_net(ref_mel)[0, 0].numpy()
    assert np.array_equal(mel, ref_mel[0].numpy())
    assert len(y) == mel.shape[1] * 16 and snr_db(ref, y) >= 40
    # And through the studio's round trip at another rate (resampled in and out).
    out = round_trip(reg, reg.add_checkpoint(folder).name, tone(16000), 16000)
    assert out.shape == (8000,) and np.isfinite(out).all()


def test_the_hifigan_family_does_not_take_a_bigvgan_generator(tmp_path):
    folder = build(tmp_path / "renamed")
    (folder / "bigvgan_generator.pt").rename(folder / "g_05000000")
    assert Registry(None).add_checkpoint(folder / "g_05000000").family == "bigvgan"


def test_broken_folders_get_one_clear_message(tmp_path):
    folder = build(tmp_path / "broken")
    raw = json.loads((folder / "config.json").read_text())
    del raw["upsample_rates"]
    (folder / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="lacks upsample_rates"):
        Registry(None).add_checkpoint(folder)
    good = build(tmp_path / "evil")

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (tmp_path / "pwned.txt", "pwned"))

    torch.save({"generator": {}, "x": Evil()}, good / "bigvgan_generator.pt")
    with pytest.raises(CheckpointError):
        Registry(None).add_checkpoint(good)
    assert not (tmp_path / "pwned.txt").exists()
    other = build(tmp_path / "other", upsample_initial_channel=16)
    (other / "config.json").write_text(json.dumps(CONFIG))     # weights of another size
    with pytest.raises(CheckpointError, match="do not match"):
        Registry(None).add_checkpoint(other)


def test_cli_vocodes_through_a_bigvgan_folder(tmp_path):
    folder = build(tmp_path / "cli")
    sf.write(tmp_path / "in.wav", tone(16000), 16000)
    r = subprocess.run([sys.executable, "-m", "studio", "vocode", str(tmp_path / "in.wav"),
                        str(tmp_path / "out.wav"), "--vocoder", str(folder)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "out.wav")          # nothing else on stdout
    y, rate = sf.read(tmp_path / "out.wav")
    assert rate == 16000 and len(y) == 8000
    r = subprocess.run([sys.executable, "-m", "studio", "models", "list", "--checkpoint",
                        str(folder)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "BigVGAN vocoder 'cli', 8000 Hz, 20 mels" in r.stdout
