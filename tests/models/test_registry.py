import json

import numpy as np
import pytest

from models.checkpoints import CheckpointError
from models.protocol import Capability
from models.registry import Registry, default_registry
from tests.conftest import make_tiny_vae


def test_scans_builtin_folder(tiny_weights):
    reg = Registry(tiny_weights)
    names = [i.name for i in reg.infos()]
    # Griffin-Lim needs no weights, so every registry has it.
    assert names == ["griffinlim", "tiny-rgb", "tiny-vae"]
    info = reg.info("tiny-rgb")
    assert info.image_shape == (64, 64, 3) and info.latent_size == 4
    assert Capability.LATENT in info.capabilities and info.source == "builtin"
    assert [i.name for i in reg.infos(Capability.VOCODE)] == ["griffinlim"]
    assert reg.infos(Capability.LATENT | Capability.VOCODE) == []


def test_user_checkpoint_loads_like_builtin(tiny_weights, tmp_path):
    reg = Registry(tiny_weights)
    user = make_tiny_vae(tmp_path / "mine", "tiny-vae", seed=5)
    info = reg.add_checkpoint(user)
    assert info.source == "checkpoint" and info.name != "tiny-vae"
    a = reg.get("tiny-vae").decode(np.zeros((1, 4), np.float32))
    b = reg.get(info.name).decode(np.zeros((1, 4), np.float32))
    assert a.shape == b.shape and not np.allclose(a, b)


def test_unknown_family_and_mismatched_weights(tmp_path):
    path = make_tiny_vae(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["family"] = "stylegan9"
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="unknown model family 'stylegan9'"):
        Registry(None).add_checkpoint(path)

    path2 = make_tiny_vae(tmp_path / "b")
    card = json.loads(path2.with_suffix(".json").read_text())
    card["config"]["latent_dim"] = 9
    path2.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="weights do not match the card"):
        Registry(None).add_checkpoint(path2)


def test_broken_builtin_is_reported_not_fatal(tiny_weights):
    (tiny_weights / "broken.safetensors").write_bytes(b"x")
    reg = Registry(tiny_weights)
    assert len(reg.infos(Capability.LATENT)) == 2
    assert any("broken" in p for p in reg.problems)


def test_shipped_models_are_registered():
    names = {i.name for i in default_registry().infos()}
    assert {"vae-glyphs", "vae-emoji"} <= names
