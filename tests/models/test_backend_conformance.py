"""The latent conformance suite over every latent backend: the shipped ones and a tiny one."""

import pytest

from models.registry import Registry, default_registry
from tests.conftest import make_tiny_stylegen, make_tiny_vae
from tests.models.conformance import LatentConformance, StyleConformance


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

    covered = {"vae-glyphs", "vae-emoji", "stylegen-glyphs"}
    assert {i.name for i in default_registry().infos(Capability.LATENT)} <= covered


class TestShippedStyleGenLatent(LatentConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("stylegen-glyphs")


class TestShippedStyleGenMixing(StyleConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("stylegen-glyphs")


class TestTinySeededStyleGen(LatentConformance, StyleConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        make_tiny_stylegen(tmp_path)
        return Registry(tmp_path).get("tiny-stylegen")
