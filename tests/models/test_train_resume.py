"""Resumable training (models/train/loop.py): a run killed with SIGKILL and resumed from its
last snapshot ends with the weights of a run never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models.train import loop
from models.train.vae import TrainConfig, train

ROOT = Path(__file__).resolve().parents[2]
CFG = dict(data="toy", batch=8, width=8, latent_dim=4, anneal_epochs=1, max_steps=150,
           snapshot_minutes=0.003, seed=3)


@pytest.fixture
def toy(tmp_path):
    rng = np.random.default_rng(1)
    blobs = np.zeros((64, 64, 64), np.uint8)
    for i in range(64):
        y, x = rng.integers(8, 56, 2)
        blobs[i, y - 6:y + 6, x - 6:x + 6] = 255
    split = np.array(["train"] * 48 + ["val"] * 8 + ["test"] * 8)
    np.savez(tmp_path / "toy.npz", images=blobs, split=split)
    return tmp_path / "toy.npz"


def test_plan_turns_a_budget_into_steps_and_keeps_it():
    with pytest.raises(ValueError, match="time budget"):
        loop.Plan()
    p = loop.Plan(minutes=1.0, probe=4)
    assert p.total == 0 and p.fraction(3) == 0.0
    p.timed(3, 0.3, 4)           # not enough steps timed yet
    assert p.total == 0
    p.timed(4, 0.4, 5)           # 0.1 s a step: 600 fit in a minute
    assert p.total == 600 and p.done(600) and not p.done(599)
    capped = loop.Plan(minutes=1.0, max_steps=50, probe=4)
    capped.timed(4, 0.4, 5)
    assert capped.total == 50
    again = loop.plan_from(loop.plan_state(p))
    again.timed(10, 100.0, 11)    # a resumed run never re-plans
    assert again.total == 600


def test_batches_walk_each_epoch_once_and_depend_on_seed_and_step_only():
    seen = torch.cat([loop.batch_indices(20, 5, 7, s) for s in range(4)])
    assert sorted(seen.tolist()) == list(range(20))
    assert torch.equal(loop.batch_indices(20, 5, 7, 6), loop.batch_indices(20, 5, 7, 6))
    assert not torch.equal(torch.cat([loop.batch_indices(20, 5, 7, s) for s in range(4, 8)]),
                           seen)  # the next epoch is another order


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights(toy, tmp_path):
    threads = torch.get_num_threads()
    whole = tmp_path / "whole.safetensors"
    card = train(TrainConfig(**CFG), whole, data_path=toy, log=lambda s: None)
    run = tmp_path / "run"
    script = (f"import torch; torch.set_num_threads({threads})\n"
              "from pathlib import Path\n"
              "from models.train.vae import TrainConfig, train\n"
              f"train(TrainConfig(**{CFG!r}), Path({str(tmp_path / 'x.safetensors')!r}), "
              f"data_path=Path({str(toy)!r}), run_dir=Path({str(run)!r}), "
              "log=lambda s: None)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while len(loop.snapshots_in(run)) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "no snapshot within two minutes"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    last = loop.latest(run)
    st = loop.read_state(last)
    assert 0 < st["step"] < CFG["max_steps"]
    assert (last / loop.MODEL).is_file() and (last / loop.SAMPLES).is_file()
    events: list[dict] = []
    resumed = tmp_path / "resumed.safetensors"
    card2 = train(TrainConfig(**CFG), resumed, data_path=toy, run_dir=run, resume=run,
                  log=lambda s: events.append(json.loads(s)))
    assert {"resumed": str(last), "step": st["step"]} in events
    assert resumed.read_bytes() == whole.read_bytes()
    assert card2["metrics"]["test_mse_vae"] == card["metrics"]["test_mse_vae"]
    assert card2["training"]["steps"] == card["training"]["steps"] == CFG["max_steps"]


def test_a_snapshot_is_a_model_the_studio_opens(toy, tmp_path):
    from models.registry import Registry

    run = tmp_path / "run"
    train(TrainConfig(**{**CFG, "max_steps": 12, "snapshot_minutes": 0.0001}),
          tmp_path / "m.safetensors", data_path=toy, run_dir=run, log=lambda s: None)
    snap = loop.snapshots_in(run)[0]
    info = Registry(None).add_checkpoint(snap / loop.MODEL)
    assert tuple(info.image_shape) == (64, 64, 1)
    grid = np.asarray(__import__("PIL.Image").Image.open(snap / loop.SAMPLES))
    assert grid.shape == (4 * 65 + 1, 8 * 65 + 1, 3) and grid.std() > 5
    with pytest.raises(FileNotFoundError, match="no snapshot"):
        train(TrainConfig(**CFG), tmp_path / "n.safetensors", data_path=toy,
              resume=tmp_path / "nothing", log=lambda s: None)


def test_fine_tuning_starts_from_the_given_model(toy, tmp_path):
    base = tmp_path / "base.safetensors"
    train(TrainConfig(**{**CFG, "max_steps": 30}), base, data_path=toy, log=lambda s: None)
    card = train(TrainConfig(**{**CFG, "max_steps": 10, "init": str(base), "latent_dim": 9}),
                 tmp_path / "tuned.safetensors", data_path=toy, log=lambda s: None)
    assert card["config"]["latent_dim"] == 4           # the base model's architecture
    assert len(card["training"]["stages"]) == 2
    np.savez(tmp_path / "rgb.npz", images=np.zeros((20, 64, 64, 3), np.uint8),
             split=np.array(["train"] * 20))
    with pytest.raises(ValueError, match="takes 64x64x1 pictures, these are 64x64x3"):
        train(TrainConfig(**{**CFG, "init": str(base)}), tmp_path / "x.safetensors",
              data_path=tmp_path / "rgb.npz", log=lambda s: None)


def test_augmentation_mirrors_and_shifts_as_a_function_of_seed_and_step():
    from models.train.vae import augment

    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 4:8, 2:5] = 1.0                   # a box left of centre
    a, b = augment(x, 2, 0, 5), augment(x, 2, 0, 5)
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, augment(x, 2, 0, 6))
    cols = a.sum(dim=(1, 2)).argmax(-1)         # where each box landed (its first column)
    assert (cols >= 8).any() and (cols < 8).any()   # some mirrored, some not
    assert torch.equal(a.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # the box stays whole
