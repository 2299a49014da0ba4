import json

import pytest
import torch

from models.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from models.registry import Registry
from tests.conftest import make_tiny_vae


def test_round_trip_keeps_weights_and_card(tmp_path):
    state = {"w": torch.arange(6, dtype=torch.float32).view(2, 3)}
    card = {"family": "vae", "config": {"latent_dim": 4}, "metrics": {"a": 1.0}}
    path = save_checkpoint(tmp_path / "m.safetensors", state, card)
    ck = load_checkpoint(path)
    assert torch.equal(ck.state["w"], state["w"])
    assert ck.card == card and ck.family == "vae"


def test_half_storage_halves_floats(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", {"w": torch.ones(3)},
                           {"family": "vae", "config": {}}, half=True)
    assert load_checkpoint(path).state["w"].dtype == torch.float16


@pytest.mark.parametrize("card_text, needle", [
    (None, "no model card"),
    ("{not json", "not a readable JSON"),
    ('{"config": {}}', "lacks family"),
    ('{"family": "vae", "config": 3}', "must be an object"),
])
def test_bad_cards_are_named(tmp_path, card_text, needle):
    path = make_tiny_vae(tmp_path)
    card = path.with_suffix(".json")
    if card_text is None:
        card.unlink()
    else:
        card.write_text(card_text)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert needle in str(err.value) and path.stem in str(err.value)


def test_missing_unknown_and_truncated_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.safetensors")
    other = tmp_path / "weights.bin"
    other.write_bytes(b"123")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        load_checkpoint(other)
    path = make_tiny_vae(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_checkpoint(path)


def test_pt_weights_only_and_pickled_code_refused(tmp_path):
    card = {"family": "vae", "config": {"latent_dim": 4}}
    good = tmp_path / "good.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "card": card}, good)
    assert load_checkpoint(good).card == card

    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.ones(2)}, bare)
    bare.with_suffix(".json").write_text(json.dumps(card))
    assert set(load_checkpoint(bare).state) == {"w"}

    evil = tmp_path / "evil.pt"
    torch.save({"obj": Registry}, evil)  # a class reference: needs unpickling code
    with pytest.raises(CheckpointError, match="refused.*models.registry.Registry") as err:
        load_checkpoint(evil)
    said = str(err.value).split(": ", 1)[1]               # the words after the file's path
    assert "weights_only" not in said                     # never the advice to load unsafely


def test_stranger_files_named_like_checkpoints_get_our_own_words(tmp_path):
    import os
    import pickle

    text = tmp_path / "notes.ckpt"
    text.write_text("hello, I am a text file")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.pt"
    torch.save({"w": torch.ones(1000)}, cut)
    cut.write_bytes(cut.read_bytes()[:300])
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {target}",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"a": Evil()}))
    for path, words in ((text, "not a PyTorch checkpoint"), (empty, "empty"),
                        (cut, "damaged or truncated"), (evil, "refused.*system")):
        with pytest.raises(CheckpointError, match=words) as err:
            load_checkpoint(path)
        said = str(err.value).split(": ", 1)[1]
        assert "weights_only" not in said and "Traceback" not in said
    assert not target.exists()


def test_weights_that_do_not_fit_name_the_keys(tmp_path):
    path = make_tiny_vae(tmp_path / "w", "tiny", seed=1)
    ckpt = load_checkpoint(path)
    state = dict(ckpt.state)
    dropped = sorted(state)[:2]
    for k in dropped:
        del state[k]
    state["extra.weight"] = torch.zeros(3)
    save_checkpoint(tmp_path / "bad.safetensors", state, ckpt.card)
    with pytest.raises(CheckpointError) as err:
        Registry(tmp_path / "none").add_checkpoint(tmp_path / "bad.safetensors")
    text = str(err.value)
    assert all(k in text.split("missing keys: ")[1].split(";")[0] for k in dropped)
    assert "unexpected keys: extra.weight" in text and "\n" not in text
