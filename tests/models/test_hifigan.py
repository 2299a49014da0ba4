"""Users' HiFi-GAN checkpoints in jik876's format: both weight-norm key styles, clear errors."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from models.audio.hifigan import Generator, HiFiGANConfig
from models.checkpoints import CheckpointError
from models.protocol import Capability
from models.registry import Registry

CFG = HiFiGANConfig(upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
                    upsample_initial_channel=16, resblock="1", resblock_kernel_sizes=[3, 5],
                    resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]], num_mels=20, n_fft=256,
                    hop_size=16, win_size=256, sampling_rate=8000, fmin=0, fmax=4000)


def reference(style: str, cfg: HiFiGANConfig = CFG, seed: int = 0) -> Generator:
    """A generator with weight norm applied the way ``style`` of PyTorch saves it."""
    torch.manual_seed(seed)
    net = Generator(cfg)
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            if style == "old":
                torch.nn.utils.weight_norm(m)
            else:
                torch.nn.utils.parametrizations.weight_norm(m)
    # Make g differ from ||v|| so folding them wrongly would show.
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight_g") or name.endswith("original0"):
                p.mul_(1.7)
    return net.eval()


def write_jik876(folder, net: torch.nn.Module, cfg: HiFiGANConfig = CFG, name="g_02500000",
                 extra_config: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"generator": net.state_dict()}, folder / name)
    raw = {**asdict(cfg), "batch_size": 16, "learning_rate": 2e-4, **(extra_config or {})}
    (folder / "config.json").write_text(json.dumps(raw))
    return folder / name


@pytest.mark.parametrize("style,key", [("old", "conv_pre.weight_g"),
                                       ("new", "conv_pre.parametrizations.weight.original0")])
def test_loads_both_weight_norm_styles_and_matches_the_original(tmp_path, style, key):
    net = reference(style)
    assert key in net.state_dict()
    path = write_jik876(tmp_path / style, net)
    reg = Registry(None)
    info = reg.add_checkpoint(path)
    assert info.family == "hifigan" and Capability.VOCODE in info.capabilities
    # Its own mel settings, from its config.json.
    assert (info.mel.sample_rate, info.mel.hop, info.mel.n_mels, info.mel.n_fft) == (
        8000, 16, 20, 256)
    backend = reg.get(info.name, "cpu")
    mel = torch.randn(20, 30)
    with torch.no_grad():
        want = net(mel[None])[0].numpy()
    got = backend.vocode(mel.numpy())
    assert got.shape == (30 * 16,)
    assert np.allclose(got, want, atol=1e-5)
    assert backend.analyse(np.zeros(800, np.float32)).shape == (20, 50)


def test_missing_config_is_named(tmp_path):
    path = write_jik876(tmp_path, reference("new"))
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointError, match="HiFi-GAN generator with its config.json"):
        Registry(None).add_checkpoint(path)


def test_config_lacking_keys_names_them(tmp_path):
    path = write_jik876(tmp_path, reference("new"))
    raw = json.loads((tmp_path / "config.json").read_text())
    del raw["hop_size"], raw["upsample_rates"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(CheckpointError, match="lacks upsample_rates, hop_size"):
        Registry(None).add_checkpoint(path)


def test_file_without_generator_entry(tmp_path):
    path = write_jik876(tmp_path, reference("new"))
    torch.save({"mpd": {}, "msd": {}}, path)
    with pytest.raises(CheckpointError, match="no 'generator' entry"):
        Registry(None).add_checkpoint(path)


def test_partial_generator_names_missing_keys(tmp_path):
    net = reference("old")
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("conv_post")}
    path = write_jik876(tmp_path, net)
    torch.save({"generator": state}, path)
    with pytest.raises(CheckpointError, match="lacks conv_post"):
        Registry(None).add_checkpoint(path)


def test_half_a_weight_norm_pair_is_named(tmp_path):
    net = reference("old")
    state = {k: v for k, v in net.state_dict().items() if k != "ups.1.weight_v"}
    path = write_jik876(tmp_path, net)
    torch.save({"generator": state}, path)
    with pytest.raises(CheckpointError, match=r"ups\.1: weight-norm direction \(v\) is missing"):
        Registry(None).add_checkpoint(path)


def test_config_that_does_not_fit_the_weights(tmp_path):
    path = write_jik876(tmp_path, reference("new"), extra_config={"upsample_initial_channel": 32})
    with pytest.raises(CheckpointError, match="do not match"):
        Registry(None).add_checkpoint(path)


def test_not_a_torch_file(tmp_path):
    path = write_jik876(tmp_path, reference("new"))
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a PyTorch weights file"):
        Registry(None).add_checkpoint(path)


def test_a_long_mel_is_vocoded_in_pieces_with_progress_and_equals_one_pass(tmp_path,
                                                                           monkeypatch):
    """HiFi-GAN V1's shape (upsampling 8, 8, 2, 2; resblocks 3/7/11 at dilations 1, 3, 5),
    narrow: one mel frame reaches 10 frames each side, well inside CHUNK_CONTEXT."""
    from models.audio import hifigan
    from models.protocol import Cancelled, JobContext, VocodeRequest
    from models.tasks import audio as ta

    cfg = HiFiGANConfig(upsample_initial_channel=32)
    path = write_jik876(tmp_path / "v1", reference("new", cfg), cfg)
    reg = Registry(None)
    name = reg.add_checkpoint(path).name
    monkeypatch.setattr(ta, "CHUNK_FRAMES", 40)
    mel = (torch.randn(80, 130) * 0.5 - 5).numpy()
    seen = []
    got = ta.vocode(reg, name, VocodeRequest(mel), ctx=JobContext(
        lambda f, _p: seen.append(f)))
    want = reg.get(name).vocode(mel)
    assert got.shape == want.shape == (130 * 256,)
    assert np.abs(got - want).max() < 1e-5
    assert hifigan.CHUNK_CONTEXT >= 2 * 10
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(set(seen)) >= 4   # 4 pieces
    ctx = JobContext(lambda f, _p: f > 0.3 and ctx.cancel())
    with pytest.raises(Cancelled):
        ta.vocode(reg, name, VocodeRequest(mel), ctx=ctx)
