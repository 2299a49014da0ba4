"""One suite for every latent backend: the shipped ones and a tiny seeded one."""

import numpy as np
import pytest

from models.checkpoints import load_checkpoint, save_checkpoint
from models.protocol import Cancelled, Capability, JobContext, LatentBackend
from models.registry import Registry, default_registry
from tests.conftest import make_tiny_vae

SHIPPED = [i.name for i in default_registry().infos(Capability.LATENT)]


@pytest.fixture(params=SHIPPED + ["tiny"])
def backend(request, tmp_path):
    if request.param == "tiny":
        make_tiny_vae(tmp_path)
        return Registry(tmp_path).get("tiny-vae")
    return default_registry().get(request.param)


def _images(backend, n=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, *backend.info.image_shape), dtype=np.float32)


def test_protocol_shapes_dtype_range(backend):
    assert isinstance(backend, LatentBackend)
    d = backend.info.latent_size
    z = backend.encode(_images(backend))
    assert z.shape == (3, d) and z.dtype == np.float32 and z.flags.c_contiguous
    x = backend.decode(z)
    assert x.shape == (3, *backend.info.image_shape) and x.dtype == np.float32
    assert x.flags.c_contiguous and 0.0 <= x.min() and x.max() <= 1.0


def test_same_seed_same_output(backend):
    a, b = backend.sample_latents(4, seed=7), backend.sample_latents(4, seed=7)
    c = backend.sample_latents(4, seed=8)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.array_equal(backend.decode(a), backend.decode(b))


def test_encode_is_deterministic(backend):
    x = _images(backend)
    assert np.array_equal(backend.encode(x), backend.encode(x))


def test_cancel_stops_a_batch_job(backend):
    ctx = JobContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        backend.decode(backend.sample_latents(2, 0), ctx=ctx)


def test_progress_is_reported(backend):
    seen = []
    ctx = JobContext(lambda f, p: seen.append(f))
    backend.batch = 2
    backend.decode(backend.sample_latents(5, 0), ctx=ctx)
    assert seen == sorted(seen) and len(seen) >= 3


def test_wrong_shapes_are_clear(backend):
    with pytest.raises(ValueError, match="expected images"):
        backend.encode(np.zeros((1, 8, 8, 1), np.float32))
    with pytest.raises(ValueError, match="expected latents"):
        backend.decode(np.zeros((1, backend.info.latent_size + 1), np.float32))


def test_checkpoint_round_trip(backend, tmp_path):
    src = load_checkpoint(backend.info.path)
    out = save_checkpoint(tmp_path / "copy.safetensors", backend.net.state_dict(), src.card)
    reg = Registry(None)
    again = reg.get(reg.add_checkpoint(out).name)
    z = backend.sample_latents(2, 3)
    assert np.allclose(backend.decode(z), again.decode(z), atol=1e-6)
