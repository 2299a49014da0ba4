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
    # Griffin-Lim needs no weights, and the source-filter vocoder none of its own (its pitch
    # model ships in the repo), so every registry has them.
    assert names == ["griffinlim", "source-filter", "tiny-rgb", "tiny-vae"]
    info = reg.info("tiny-rgb")
    assert info.image_shape == (64, 64, 3) and info.latent_size == 4
    assert Capability.LATENT in info.capabilities and info.source == "builtin"
    assert [i.name for i in reg.infos(Capability.VOCODE)] == ["griffinlim", "source-filter"]
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


def test_settings_come_from_the_family_and_the_card(tiny_weights, tmp_path):
    from models.protocol import ParamSpec, check_params

    reg = Registry(tiny_weights)
    (iters,) = reg.info("griffinlim").params
    assert (iters.name, iters.kind, iters.default, iters.minimum) == ("iters", "int", 32, 1)
    assert iters.choices == () and iters.unit == "" and "iterations" in iters.help
    with pytest.raises(ValueError, match="choices go with kind 'choice'"):
        ParamSpec("n", "int", 1, choices=("a",))
    assert check_params((iters,), {"iters": "8"}, "griffinlim") == {"iters": 8}
    with pytest.raises(ValueError, match="at least 1"):
        iters.check(0)
    with pytest.raises(ValueError, match="has no setting 'steps'"):
        check_params((iters,), {"steps": 3}, "griffinlim")
    # A card may declare settings of its own; they reach BackendInfo.
    path = make_tiny_vae(tmp_path / "p", "with-params")
    card = json.loads(path.with_suffix(".json").read_text())
    card["params"] = [{"name": "temperature", "kind": "float", "default": 1.0,
                       "minimum": 0.0, "maximum": 2.0, "help": "prior scale"}]
    path.with_suffix(".json").write_text(json.dumps(card))
    info = reg.add_checkpoint(path)
    assert info.params == (ParamSpec("temperature", "float", 1.0, 0.0, 2.0, (), "",
                                     "prior scale"),)
    assert info.to_json()["params"][0]["name"] == "temperature"


def test_loading_holds_no_lock_and_idle_models_are_freed(tiny_weights, monkeypatch):
    import threading
    import time

    import models.registry as registry

    reg = Registry(tiny_weights)
    gate, entered = threading.Event(), threading.Event()
    real = registry._read_any

    def slow_read(path, *args):
        if "tiny-rgb" in str(path):
            entered.set()
            assert gate.wait(5)
        return real(path, *args)

    monkeypatch.setattr(registry, "_read_any", slow_read)
    loader = threading.Thread(target=lambda: reg.get("tiny-rgb", "cpu"))
    loader.start()
    assert entered.wait(5)
    t0 = time.monotonic()
    reg.get("tiny-vae", "cpu")              # another model loads while tiny-rgb is loading
    assert time.monotonic() - t0 < 2
    gate.set()
    loader.join(5)
    assert reg.get("tiny-rgb", "cpu") is reg.get("tiny-rgb", "cpu")   # loaded once
    assert set(reg.loaded()) == {("tiny-rgb", "cpu"), ("tiny-vae", "cpu")}
    assert reg.release(keep_device="cuda") and reg.loaded() == []      # a device switch
    reg.get("tiny-vae", "cpu")
    time.sleep(0.05)
    assert reg.release(idle_s=0.01) == [("tiny-vae", "cpu")]


def test_a_foreign_checkpoint_is_claimed_by_its_familys_hook(tmp_path):
    from models.registry import _claimants

    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "g_00100000").write_bytes(b"x")
    assert [m.__name__ for m in _claimants(tmp_path / "g_00100000")] == [
        "models.audio.hifigan"]
    path = make_tiny_vae(tmp_path / "ours")
    assert _claimants(path) == []


def test_default_model_is_the_measured_one_named_in_defaults_json(tmp_path):
    from tests.models.test_vocoder_conformance import tiny_vocos

    first = tiny_vocos(tmp_path)                                    # tiny-vocos
    (tmp_path / "b-vocos.safetensors").write_bytes(first.read_bytes())
    (tmp_path / "b-vocos.json").write_text(first.with_suffix(".json").read_text())
    # Without defaults.json: the first model with weights, never the weightless baseline.
    assert Registry(tmp_path).default(Capability.VOCODE) == "b-vocos"
    (tmp_path / "defaults.json").write_text(json.dumps({"vocode": "tiny-vocos"}))
    reg = Registry(tmp_path)
    assert reg.default(Capability.VOCODE) == "tiny-vocos" and reg.problems == []
    assert reg.default(Capability.INPAINT) == ""
    (tmp_path / "defaults.json").write_text(json.dumps({"vocode": "gone"}))
    assert Registry(tmp_path).default(Capability.VOCODE) == "b-vocos"
    (tmp_path / "defaults.json").write_text("{not json")
    reg = Registry(tmp_path)
    assert reg.default(Capability.VOCODE) == "b-vocos"
    assert any("defaults.json" in p for p in reg.problems)


def test_a_weightless_model_takes_its_measured_card_from_the_weights_folder(tmp_path):
    import json

    from models.registry import default_registry

    card = default_registry().card("source-filter")
    assert card["family"] == "sourcefilter"
    assert "griffinlim32" in card["measured_real_voices"]["summary"]
    assert default_registry().info("source-filter").metrics["real_voices_mrstft"] > 0
    # Without a card file it is only what the code says; a bad card file is a problem, not a
    # crash, and the model stays.
    assert "measured_real_voices" not in Registry(tmp_path).card("source-filter")
    (tmp_path / "source-filter.json").write_text("{not json")
    reg = Registry(tmp_path)
    assert "source-filter" in [i.name for i in reg.infos()]
    assert any("source-filter.json" in p for p in reg.problems)
    (tmp_path / "source-filter.json").write_text(json.dumps({"family": "vae", "metrics": {}}))
    assert Registry(tmp_path).info("source-filter").family == "sourcefilter"   # code wins
