"""Conformance suites, one per capability: a backend's test class subclasses one and
provides a ``backend`` fixture (diffusers' SchedulerCommonTest is the model). New families
(style generators, diffusion models, attribute models) subclass these too.

With ``LATENT_STUDIO_DEVICE=cuda`` (or mps) the headless tests load their backends on that
device (tests/models/conftest.py), and every suite also checks that the backend gives the
same outputs there as on the CPU.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from models import device as devices
from models.checkpoints import load_checkpoint, save_checkpoint
from models.protocol import Cancelled, JobContext, LatentBackend, VocoderBackend
from models.registry import Registry

TEST_DEVICE = os.environ.get("LATENT_STUDIO_DEVICE", "cpu")


def other_device_or_skip() -> str:
    """The device named by LATENT_STUDIO_DEVICE, when it is not the CPU and is here."""
    if TEST_DEVICE == "cpu":
        pytest.skip("LATENT_STUDIO_DEVICE is the CPU: nothing to compare with")
    if TEST_DEVICE not in devices.available_devices():
        pytest.skip(f"LATENT_STUDIO_DEVICE={TEST_DEVICE} is not available here")
    return TEST_DEVICE


def copy_through_a_file(backend, folder):
    """The backend's weights and card written as our checkpoint and loaded back."""
    src = load_checkpoint(backend.info.path)
    out = save_checkpoint(folder / "copy.safetensors", backend.net.state_dict(), src.card)
    reg = Registry(None)
    return reg.get(reg.add_checkpoint(out).name)


def reload_on(backend, device: str):
    """The same weights as ``backend``, loaded on ``device``."""
    reg = Registry(None)
    if backend.info.path:
        return reg.get(reg.add_checkpoint(backend.info.path).name, device)
    return Registry().get(backend.info.name, device)


class LatentConformance:
    """Images to latents and back: shapes, dtype, range, seeds, cancel, checkpoints."""

    # Decoded pixels may differ this much between the CPU and another device.
    device_atol = 2e-3

    @staticmethod
    def images(backend, n=3, seed=0):
        rng = np.random.default_rng(seed)
        return rng.random((n, *backend.info.image_shape), dtype=np.float32)

    def test_protocol_shapes_dtype_range(self, backend):
        assert isinstance(backend, LatentBackend)
        d = backend.info.latent_size
        z = backend.encode(self.images(backend))
        assert z.shape == (3, d) and z.dtype == np.float32 and z.flags.c_contiguous
        x = backend.decode(z)
        assert x.shape == (3, *backend.info.image_shape) and x.dtype == np.float32
        assert x.flags.c_contiguous and 0.0 <= x.min() and x.max() <= 1.0

    def test_same_seed_same_output(self, backend):
        a, b = backend.sample_latents(4, seed=7), backend.sample_latents(4, seed=7)
        c = backend.sample_latents(4, seed=8)
        assert np.array_equal(a, b) and not np.allclose(a, c)
        assert np.array_equal(backend.decode(a), backend.decode(b))

    def test_encode_is_deterministic(self, backend):
        x = self.images(backend)
        assert np.array_equal(backend.encode(x), backend.encode(x))

    def test_cancel_stops_a_batch_job(self, backend):
        ctx = JobContext()
        ctx.cancel()
        with pytest.raises(Cancelled):
            backend.decode(backend.sample_latents(2, 0), ctx=ctx)

    def test_progress_is_reported(self, backend):
        seen = []
        ctx = JobContext(lambda f, p: seen.append(f))
        backend.batch = 2
        backend.decode(backend.sample_latents(5, 0), ctx=ctx)
        assert seen == sorted(seen) and len(seen) >= 3

    def test_wrong_shapes_are_clear(self, backend):
        with pytest.raises(ValueError, match="expected images"):
            backend.encode(np.zeros((1, 8, 8, 1), np.float32))
        with pytest.raises(ValueError, match="expected latents"):
            backend.decode(np.zeros((1, backend.info.latent_size + 1), np.float32))

    def test_checkpoint_round_trip(self, backend, tmp_path):
        again = copy_through_a_file(backend, tmp_path)
        z = backend.sample_latents(2, 3)
        assert np.allclose(backend.decode(z), again.decode(z), atol=1e-6)

    def test_same_outputs_on_the_test_device(self, backend):
        here, there = reload_on(backend, "cpu"), reload_on(backend, other_device_or_skip())
        z = here.sample_latents(3, 5)
        assert np.allclose(here.decode(z), there.decode(z), atol=self.device_atol)
        x = self.images(backend)
        assert np.allclose(here.encode(x), there.encode(x), atol=self.device_atol)


class StyleConformance:
    """Style mixing: codes, the crossover, truncation, noise (Capability.STYLE_MIX)."""

    images = staticmethod(LatentConformance.images)

    def test_codes_have_the_spec_shape(self, backend):
        from models.protocol import StyleBackend

        assert isinstance(backend, StyleBackend)
        spec = backend.info.style
        codes = backend.codes_from_seeds([1, 2])
        assert codes.shape == (2, spec.layers, spec.w_dim) and codes.dtype == np.float32
        assert backend.encode_codes(self.images(backend)).shape == (3, spec.layers, spec.w_dim)
        assert backend.mean_code().shape == (spec.layers, spec.w_dim)
        assert np.array_equal(codes, backend.codes_from_seeds([1, 2]))

    def test_crossover_takes_rows_from_b(self, backend):
        from models.protocol import StyleMixRequest

        a, b = backend.codes_from_seeds([3, 4])
        every = tuple(range(backend.info.style.layers))
        # One batch: rows of a batch share the convolution kernels, so float error from a
        # different batch size (oneDNN picks kernels by shape; 3e-6 seen) does not enter.
        none, all_b, only_b, plain_a = backend.synthesize([
            StyleMixRequest(a, b, (), noise_seed=None),
            StyleMixRequest(a, b, every, noise_seed=None),
            StyleMixRequest(b, b, (), noise_seed=None),
            StyleMixRequest(a, a, (), noise_seed=None)])
        assert np.allclose(none, plain_a, atol=1e-6) and np.allclose(all_b, only_b, atol=1e-6)
        assert not np.allclose(none, all_b, atol=1e-3)
        half = backend.synthesize([StyleMixRequest(a, b, every[:1], noise_seed=None)])[0]
        assert not np.allclose(half, none, atol=1e-4) and not np.allclose(half, all_b, atol=1e-4)

    def test_truncation_to_the_mean(self, backend):
        from models.protocol import StyleMixRequest

        a, b = backend.codes_from_seeds([5, 6])
        mean = backend.mean_code()
        at_mean = backend.synthesize([StyleMixRequest(mean, mean, (), noise_seed=None)])[0]
        for code in (a, b):
            out = backend.synthesize([StyleMixRequest(code, code, (), psi=0.0,
                                                      noise_seed=None)])[0]
            assert np.allclose(out, at_mean, atol=1e-5)
        # A cutoff keeps the rows above it: no longer the mean picture.
        kept = backend.synthesize([StyleMixRequest(a, a, (), psi=0.0, cutoff=1,
                                                   noise_seed=None)])[0]
        assert not np.allclose(kept, at_mean, atol=1e-4)

    def test_noise_is_seeded_and_scaled(self, backend):
        from models.protocol import StyleMixRequest

        a = backend.codes_from_seeds([7])[0]
        layers = backend.info.style.layers
        off, s1, s1b, s2, zero = backend.synthesize([
            StyleMixRequest(a, a, (), noise_seed=None),
            StyleMixRequest(a, a, (), noise_seed=1, noise_strength=(50.0,) * layers),
            StyleMixRequest(a, a, (), noise_seed=1, noise_strength=(50.0,) * layers),
            StyleMixRequest(a, a, (), noise_seed=2, noise_strength=(50.0,) * layers),
            StyleMixRequest(a, a, (), noise_seed=1, noise_strength=(0.0,) * layers)])
        assert np.array_equal(s1, s1b) and np.allclose(zero, off, atol=1e-6)
        assert not np.allclose(s1, s2, atol=1e-4)


class VocoderConformance:
    """Mels to audio: the backend's own analysis, shapes, determinism, cancel, bad input."""

    device_atol = 0.02           # fp16 weights run in float32 on the CPU, half on a GPU
    # Whether its weights round-trip through our checkpoint format (Griffin-Lim has none;
    # a HiFi-GAN's own files are tested in test_hifigan).
    round_trips = True

    @staticmethod
    def mel(backend, frames=40, seed=0):
        s = backend.info.mel
        t = np.arange(frames * s.hop) / s.sample_rate
        x = 0.3 * np.sin(2 * np.pi * 220 * t) * np.random.default_rng(seed).uniform(
            0.5, 1, t.size)
        return backend.analyse(x.astype(np.float32))

    def test_protocol_shapes_dtype_range(self, backend):
        assert isinstance(backend, VocoderBackend)
        s = backend.info.mel
        mel = self.mel(backend)
        assert mel.shape == (s.n_mels, 40) and mel.dtype == np.float32
        y = backend.vocode(mel)
        assert y.shape == (40 * s.hop,) and y.dtype == np.float32 and y.flags.c_contiguous
        assert np.all(np.isfinite(y)) and np.abs(y).max() < 4.0

    def test_same_mel_same_audio(self, backend):
        mel = self.mel(backend)
        assert np.array_equal(backend.vocode(mel), backend.vocode(mel))

    def test_declared_settings_are_taken(self, backend):
        mel = self.mel(backend)
        for spec in backend.info.params:
            y = backend.vocode(mel, **{spec.name: spec.check(spec.default)})
            assert y.shape == (mel.shape[1] * backend.info.mel.hop,)

    def test_cancel_stops_it(self, backend):
        ctx = JobContext()
        ctx.cancel()
        with pytest.raises(Cancelled):
            backend.vocode(self.mel(backend), ctx=ctx)

    def test_checkpoint_round_trip(self, backend, tmp_path):
        if not self.round_trips:
            pytest.skip("no weights of our format to round-trip")
        again = copy_through_a_file(backend, tmp_path)
        mel = self.mel(backend)
        assert np.allclose(backend.vocode(mel), again.vocode(mel), atol=1e-5)

    def test_wrong_shapes_are_clear(self, backend):
        n = backend.info.mel.n_mels
        with pytest.raises(ValueError, match=rf"expected a mel of shape \({n}, T\)"):
            backend.vocode(np.zeros((n + 1, 10), np.float32))
        with pytest.raises(ValueError, match="NaN"):
            backend.vocode(np.full((n, 10), np.nan, np.float32))

    def test_same_outputs_on_the_test_device(self, backend):
        here, there = reload_on(backend, "cpu"), reload_on(backend, other_device_or_skip())
        mel = self.mel(backend)
        assert np.abs(here.vocode(mel) - there.vocode(mel)).max() < self.device_atol


class InpaintConformance:
    """A picture and a mask to the picture repainted: shapes, dtype, range, the outside
    kept, seeds, progress with previews, cancel, checkpoints, bad input."""

    device_atol = 0.02
    round_trips = True           # a diffusers folder is tested in test_diffusers_unet
    steps = 4

    def request(self, backend, seed=0, **kw):
        from models.protocol import InpaintRequest

        h, w, c = backend.info.image_shape
        rng = np.random.default_rng(0)
        image = rng.random((h, w, c), dtype=np.float32)
        mask = np.zeros((h, w), np.float32)
        mask[: h // 2] = 1
        return InpaintRequest(image, mask, steps=self.steps, seed=seed, **kw)

    def test_protocol_shapes_dtype_range_and_the_outside_kept(self, backend):
        from models.protocol import InpaintBackend

        assert isinstance(backend, InpaintBackend)
        req = self.request(backend)
        out = backend.inpaint(req)
        assert out.shape == req.image.shape and out.dtype == np.float32
        assert out.flags.c_contiguous and 0.0 <= out.min() and out.max() <= 1.0
        h = req.image.shape[0]
        far = slice(h // 2 + h // 4, None)            # well beyond the feathered edge
        assert np.allclose(out[far], req.image[far], atol=1e-6)
        assert not np.allclose(out[: h // 4], req.image[: h // 4], atol=1e-3)

    def test_same_seed_same_output(self, backend):
        a, b = backend.inpaint(self.request(backend, 3)), backend.inpaint(self.request(backend, 3))
        c = backend.inpaint(self.request(backend, 4))
        assert np.array_equal(a, b) and not np.allclose(a, c, atol=1e-4)

    def test_progress_and_previews_every_call(self, backend):
        seen = []
        req = self.request(backend, repaint_jumps=1, repaint_resamples=2)
        from models.samplers.repaint import network_calls

        backend.inpaint(req, ctx=JobContext(lambda f, p: seen.append((f, p))))
        assert len(seen) == network_calls(self.steps, 1, 2)
        assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
        assert all(p.shape == req.image.shape and p.dtype == np.float32 for _, p in seen)

    def test_cancel_stops_it(self, backend):
        calls = []

        def report(f, p):
            calls.append(f)
            if len(calls) == 2:
                ctx.cancel()

        ctx = JobContext(report)
        with pytest.raises(Cancelled):
            backend.inpaint(self.request(backend), ctx=ctx)
        assert len(calls) == 2

    def test_checkpoint_round_trip(self, backend, tmp_path):
        if not self.round_trips:
            pytest.skip("not our checkpoint format")
        again = copy_through_a_file(backend, tmp_path)
        req = self.request(backend)
        assert np.allclose(backend.inpaint(req), again.inpaint(req), atol=1e-5)

    def test_wrong_shapes_are_clear(self, backend):
        from models.protocol import InpaintRequest

        with pytest.raises(ValueError, match="paints"):
            backend.inpaint(InpaintRequest(np.zeros((5, 5, 1), np.float32),
                                           np.ones((5, 5), np.float32)))
        with pytest.raises(ValueError, match="does not match"):
            InpaintRequest(np.zeros((8, 8, 1), np.float32), np.ones((4, 4), np.float32))

    def test_same_outputs_on_the_test_device(self, backend):
        here, there = reload_on(backend, "cpu"), reload_on(backend, other_device_or_skip())
        req = self.request(backend)
        assert np.abs(here.inpaint(req) - there.inpaint(req)).max() < self.device_atol
