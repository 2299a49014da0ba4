"""The latent conformance suite over every latent backend: the shipped ones and a tiny one."""

import pytest

from models.registry import Registry, default_registry
from tests.conftest import make_tiny_diffusion, make_tiny_stylegen, make_tiny_vae
from tests.models.conformance import InpaintConformance, LatentConformance, StyleConformance


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


class TestTinySeededDiffusion(InpaintConformance):
    @pytest.fixture
    def backend(self, tmp_path):
        make_tiny_diffusion(tmp_path)
        return Registry(tmp_path).get("tiny-diffusion")


class TestTinyDiffusersUNet(InpaintConformance):
    round_trips = False

    @pytest.fixture
    def backend(self, tmp_path):
        from tests.models.test_diffusers_unet import tiny_unet

        tiny_unet(tmp_path / "unet", channels=3)
        reg = Registry(None)
        return reg.get(reg.add_checkpoint(tmp_path / "unet").name)


class TestShippedDiffusion(InpaintConformance):
    @pytest.fixture
    def backend(self):
        return default_registry().get("diffusion-glyphs")


def test_every_shipped_inpainting_backend_has_a_suite():
    from models.protocol import Capability

    assert {i.name for i in default_registry().infos(Capability.INPAINT)} <= {
        "diffusion-glyphs"}
