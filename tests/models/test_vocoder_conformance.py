"""One suite for every vocoder: the shipped ones and tiny seeded ones of each family."""

import numpy as np
import pytest
import torch

from models.audio.vocos import Vocos, VocosConfig, config_to_card
from models.checkpoints import load_checkpoint, save_checkpoint
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

    def test_checkpoint_round_trip(self, backend, tmp_path):
        src = load_checkpoint(backend.info.path)
        out = save_checkpoint(tmp_path / "copy.safetensors", backend.net.state_dict(),
                              src.card)
        reg = Registry(None)
        again = reg.get(reg.add_checkpoint(out).name)
        mel = self.mel(backend)
        assert np.allclose(backend.vocode(mel), again.vocode(mel), atol=1e-5)


class TestGriffinLim(VocoderConformance):
    device_atol = 0.05      # the seeded random phase start is drawn on the CPU either way

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
    @pytest.fixture
    def backend(self, tmp_path):
        from tests.models.test_hifigan import reference, write_jik876

        reg = Registry(None)
        return reg.get(reg.add_checkpoint(write_jik876(tmp_path, reference("new"))).name)


def test_every_shipped_vocoder_has_a_suite():
    assert set(SHIPPED) <= {"vocoder-speech", "griffinlim"}
