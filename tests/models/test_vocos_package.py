"""Users' Vocos folders (config.yaml + pytorch_model.bin), run by the vocos package: a tiny
model built and saved by the package here; equal to the package's own output; a YAML that
names anything but the package's mel parts is refused without being imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from models.checkpoints import CheckpointError
from models.protocol import Capability
from models.registry import Registry
from models.tasks.audio import round_trip

CONFIG = {
    "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                          "init_args": {"sample_rate": 8000, "n_fft": 256, "hop_length": 64,
                                        "n_mels": 24, "padding": "center"}},
    "backbone": {"class_path": "vocos.models.VocosBackbone",
                 "init_args": {"input_channels": 24, "dim": 32, "intermediate_dim": 64,
                               "num_layers": 2}},
    "head": {"class_path": "vocos.heads.ISTFTHead",
             "init_args": {"dim": 32, "n_fft": 256, "hop_length": 64, "padding": "center"}},
}


def build(folder: Path, config: dict = CONFIG, seed: int = 0) -> Path:
    """A tiny Vocos saved as charactr's hub folders are: the package's from_hparams + the
    state dict as pytorch_model.bin."""
    from vocos import Vocos

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(seed)
    net = Vocos.from_hparams(str(folder / "config.yaml"))
    torch.save(net.state_dict(), folder / "pytorch_model.bin")
    return folder


def tone(rate: int = 8000, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)


def snr_db(ref: np.ndarray, out: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref ** 2) / max(np.sum((ref - out) ** 2), 1e-30)))


def test_a_vocos_folder_is_a_vocoder_with_its_own_convention(tmp_path):
    folder = build(tmp_path / "vocos-tiny")
    reg = Registry(None)
    for path in (folder, folder / "config.yaml", folder / "pytorch_model.bin"):
        info = reg.add_checkpoint(path)
        assert info.family == "vocos-package" and Capability.VOCODE in info.capabilities
    m = info.mel
    assert (m.sample_rate, m.n_mels, m.hop, m.convention) == (8000, 24, 64, "vocos")
    from models.audio.features import log_mel

    with pytest.raises(ValueError, match="its own vocoder"):
        log_mel(tone(), m)


def test_analysis_and_vocoding_equal_the_packages_own(tmp_path):
    from vocos import Vocos

    folder = build(tmp_path / "v")
    reg = Registry(None)
    name = reg.add_checkpoint(folder).name
    backend = reg.get(name)
    x = tone()
    mel = backend.analyse(x)
    y = backend.vocode(mel)
    ref_net = Vocos.from_hparams(str(folder / "config.yaml"))
    ref_net.load_state_dict(torch.load(folder / "pytorch_model.bin", weights_only=True))
    ref_net.eval()
    with torch.no_grad():
        ref_mel = ref_net.feature_extractor(torch.from_numpy(x)[None])
        ref = ref_net.decode(ref_mel)[0].numpy()
    assert np.array_equal(mel, ref_mel[0].numpy())
    assert len(y) == mel.shape[1] * 64 and snr_db(ref, y[:len(ref)]) >= 40
    assert not y[len(ref):].any()
    out = round_trip(reg, name, tone(16000), 16000)
    assert out.shape == (8000,) and np.isfinite(out).all()


def test_a_yaml_naming_other_code_is_refused_unimported(tmp_path):
    marker = tmp_path / "imported.txt"
    mod = tmp_path / "evil_mod.py"
    mod.write_text(f"open({str(marker)!r}, 'w').write('ran')\nclass X:\n    pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        for section, path in (("backbone", "evil_mod.X"), ("head", "os.system")):
            cfg = {**CONFIG, section: {"class_path": path, "init_args": {}}}
            folder = build(tmp_path / section)
            (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
            with pytest.raises(CheckpointError, match=f"refused: {section} asks for"):
                Registry(None).add_checkpoint(folder)
    finally:
        sys.path.remove(str(tmp_path))
    assert not marker.exists() and "evil_mod" not in sys.modules
    cfg = {**CONFIG, "feature_extractor": {
        "class_path": "vocos.feature_extractors.EncodecFeatures", "init_args": {}}}
    folder = build(tmp_path / "encodec")
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(CheckpointError, match="EnCodec"):
        Registry(None).add_checkpoint(folder)
    (folder / "config.yaml").write_text("backbone: !!python/object/apply:os.system ['true']")
    with pytest.raises(CheckpointError, match="not a readable YAML"):
        Registry(None).add_checkpoint(folder)


def test_weights_that_do_not_fit_and_pickles_that_run_code(tmp_path):
    folder = build(tmp_path / "w")
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state.pop("head.out.weight")
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="do not match"):
        Registry(None).add_checkpoint(folder)

    class Evil:
        def __reduce__(self):
            return (Path.write_text, (tmp_path / "pwned.txt", "pwned"))

    torch.save({"x": Evil()}, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError):
        Registry(None).add_checkpoint(folder)
    assert not (tmp_path / "pwned.txt").exists()


def test_cli_vocodes_through_a_vocos_folder(tmp_path):
    folder = build(tmp_path / "cli")
    sf.write(tmp_path / "in.wav", tone(16000), 16000)
    r = subprocess.run([sys.executable, "-m", "studio", "vocode", str(tmp_path / "in.wav"),
                        str(tmp_path / "out.wav"), "--vocoder", str(folder)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    y, rate = sf.read(tmp_path / "out.wav")
    assert rate == 16000 and len(y) == 8000


def test_band_centres_follow_the_htk_scale_of_torchaudio(tmp_path):
    import torchaudio

    from models.audio.features import mel_frequencies

    info = Registry(None).add_checkpoint(build(tmp_path / "axis"))
    fb = torchaudio.functional.melscale_fbanks(129, 0.0, 4000.0, 24, 8000)   # (freqs, mels)
    peaks = torch.linspace(0, 4000, 129)[fb.argmax(0)].numpy()
    assert np.abs(mel_frequencies(info.mel) - peaks).max() <= 4000 / 128     # one FFT bin
