"""The latent conformance suite over every latent backend: the shipped ones and a tiny one."""

import pytest

from models.registry import Registry, default_registry
from tests.conftest import make_tiny_vae
from tests.models.conformance import LatentConformance


class TestShippedGlyphVAE(LatentConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("vae-glyphs")


class TestShippedEmojiVAE(LatentConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("vae-emoji")


class TestTinySeededVAE(LatentConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        make_tiny_vae(tmp_path)
        return Registry(tmp_path).get("tiny-vae")


def test_every_shipped_latent_backend_has_a_suite():
    from models.protocol import Capability

    covered = {"vae-glyphs", "vae-emoji"}
    assert {i.name for i in default_registry().infos(Capability.LATENT)} <= covered
