"""One suite for every vocoder: the shipped ones and tiny seeded ones of each family."""

import numpy as np
import pytest
import torch

from models.audio.vocos import Vocos, VocosConfig, config_to_card
from models.checkpoints import load_checkpoint, save_checkpoint
from models.protocol import Cancelled, Capability, JobContext, VocoderBackend
from models.registry import Registry, default_registry

SHIPPED = [i.name for i in default_registry().infos(Capability.VOCODE)]


def tiny_vocos(folder):
    torch.manual_seed(0)
    cfg = VocosConfig(dim=16, hidden=32, layers=1)
    card = {"family": "vocos", "config": config_to_card(cfg), "description": "tiny test"}
    return save_checkpoint(folder / "tiny-vocos.safetensors", Vocos(cfg).state_dict(), card)


@pytest.fixture(params=SHIPPED + ["tiny-vocos", "tiny-hifigan"])
def backend(request, tmp_path):
    if request.param == "tiny-vocos":
        tiny_vocos(tmp_path)
        return Registry(tmp_path).get("tiny-vocos")
    if request.param == "tiny-hifigan":
        from tests.models.test_hifigan import reference, write_jik876

        reg = Registry(None)
        return reg.get(reg.add_checkpoint(write_jik876(tmp_path, reference("new"))).name)
    return default_registry().get(request.param)


def _mel(backend, frames=40, seed=0):
    s = backend.info.mel
    t = np.arange(frames * s.hop) / s.sample_rate
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * np.random.default_rng(seed).uniform(0.5, 1, t.size)
    return backend.analyse(x.astype(np.float32))


def test_protocol_shapes_dtype_range(backend):
    assert isinstance(backend, VocoderBackend)
    s = backend.info.mel
    mel = _mel(backend)
    assert mel.shape == (s.n_mels, 40) and mel.dtype == np.float32
    y = backend.vocode(mel)
    assert y.shape == (40 * s.hop,) and y.dtype == np.float32 and y.flags.c_contiguous
    assert np.all(np.isfinite(y)) and np.abs(y).max() < 4.0


def test_same_mel_same_audio(backend):
    mel = _mel(backend)
    assert np.array_equal(backend.vocode(mel), backend.vocode(mel))


def test_cancel_stops_it(backend):
    ctx = JobContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        backend.vocode(_mel(backend), ctx=ctx)


def test_wrong_shapes_are_clear(backend):
    n = backend.info.mel.n_mels
    with pytest.raises(ValueError, match=rf"expected a mel of shape \({n}, T\)"):
        backend.vocode(np.zeros((n + 1, 10), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        backend.vocode(np.full((n, 10), np.nan, np.float32))


def test_checkpoint_round_trip(backend, tmp_path):
    if backend.info.family != "vocos":
        pytest.skip("Griffin-Lim has no weights; HiFi-GAN files are tested in test_hifigan")
    src = load_checkpoint(backend.info.path)
    out = save_checkpoint(tmp_path / "copy.safetensors", backend.net.state_dict(), src.card)
    reg = Registry(None)
    again = reg.get(reg.add_checkpoint(out).name)
    mel = _mel(backend)
    assert np.allclose(backend.vocode(mel), again.vocode(mel), atol=1e-5)
