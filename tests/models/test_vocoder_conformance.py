"""One suite for every vocoder: the shipped ones and tiny seeded ones of each family."""

import numpy as np
import pytest
import torch

from models.audio.vocos import Vocos, VocosConfig, config_to_card
from models.checkpoints import save_checkpoint
from models.protocol import Capability
from models.registry import Registry, default_registry
from tests.models.conformance import VocoderConformance

SHIPPED = [i.name for i in default_registry().infos(Capability.VOCODE)]


def tiny_vocos(folder):
    torch.manual_seed(0)
    cfg = VocosConfig(dim=16, hidden=32, layers=1)
    card = {"family": "vocos", "config": config_to_card(cfg), "description": "tiny test"}
    return save_checkpoint(folder / "tiny-vocos.safetensors", Vocos(cfg).state_dict(), card)


class TestShippedNeuralVocoder(VocoderConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("vocoder-speech")


class TestShippedRealVoiceVocoder(VocoderConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("vocoder-real")


class TestGriffinLim(VocoderConformance):
    device_atol = 0.05      # the seeded random phase start is drawn on the CPU either way
    round_trips = False

    @pytest.fixture
    def backend(self):
        return default_registry().get("griffinlim")

    def test_iterations_are_a_declared_setting(self, backend):
        (iters,) = backend.info.params
        mel = self.mel(backend)
        assert not np.allclose(backend.vocode(mel, iters=1), backend.vocode(mel, iters=8))


class TestTinyVocos(VocoderConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        tiny_vocos(tmp_path)
        return Registry(tmp_path).get("tiny-vocos")


class TestTinyHiFiGAN(VocoderConformance):
    round_trips = False
    @pytest.fixture
    def backend(self, tmp_path):
        from tests.models.test_hifigan import reference, write_jik876

        reg = Registry(None)
        return reg.get(reg.add_checkpoint(write_jik876(tmp_path, reference("new"))).name)


def test_every_shipped_vocoder_has_a_suite():
    assert set(SHIPPED) <= {"vocoder-speech", "vocoder-real", "griffinlim"}


def test_the_default_vocoder_is_the_one_that_measured_better_on_real_voices():
    """vocoder-real replaces vocoder-speech as the default only where its card shows it
    better on the real test speakers: DNSMOS OVRL higher by 0.05 or more, MR-STFT no worse."""
    import json

    from models.registry import WEIGHTS_DIR

    card = json.loads((WEIGHTS_DIR / "vocoder-real.json").read_text())
    s = card["measured_real_voices"]["summary"]
    better = (s["ours"]["ovrl"] - s["started_from"]["ovrl"] >= 0.05
              and s["ours"]["mrstft"] <= s["started_from"]["mrstft"])
    want = "vocoder-real" if better else "vocoder-speech"
    assert default_registry().default(Capability.VOCODE) == want
