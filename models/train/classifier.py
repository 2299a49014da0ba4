"""Train the glyph classifier whose features the metrics use (``latent-studio train
classifier``). Baseline: nearest class mean on pixels, on the same unseen-family test split."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.checkpoints import save_checkpoint
from models.data import cache_dir
from models.image.classifier import ClassifierConfig, GlyphClassifier, config_to_card
from models.protocol import JobContext


def _split(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run 'latent-studio data build glyphs'")
    d = np.load(path)
    out = {}
    for s in ("train", "val", "test"):
        m = d["split"] == s
        out[s] = (torch.from_numpy(d["images"][m]), torch.from_numpy(d["char"][m].astype(np.int64)))
    return out


@torch.no_grad()
def accuracy(net: GlyphClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    net.eval()
    hits = 0
    for i in range(0, len(x), 512):
        xb = x[i:i + 512, None].float() / 255
        hits += int((net(xb)[1].argmax(1) == y[i:i + 512]).sum())
    return hits / len(x)


def nearest_mean_accuracy(train: tuple, test: tuple, classes: int) -> float:
    xtr = train[0].reshape(len(train[0]), -1).float() / 255
    xte = test[0].reshape(len(test[0]), -1).float() / 255
    means = torch.stack([xtr[train[1] == c].mean(0) for c in range(classes)])
    pred = torch.cdist(xte, means).argmin(1)
    return float((pred == test[1]).float().mean())


def train(out: Path, epochs: int = 3, batch: int = 128, lr: float = 3e-3, seed: int = 0,
          data_path: Path | None = None, ctx: JobContext | None = None,
          log=print) -> dict[str, Any]:
    ctx = ctx or JobContext()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    data = _split(data_path or cache_dir() / "glyphs.npz")
    xtr, ytr = data["train"]
    cfg = ClassifierConfig()
    net = GlyphClassifier(cfg)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    t0, step, history = time.time(), 0, []
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), batch):
            idx = order[i:i + batch]
            xb = xtr[idx, None].float() / 255
            # Small random shifts so features do not hinge on exact placement.
            dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=g))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(net(xb)[1], ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            ctx.report(step / steps)
        history.append({"epoch": epoch + 1, "val_accuracy": round(accuracy(net, *data["val"]), 4),
                        "seconds": round(time.time() - t0)})
        log(json.dumps(history[-1]))
    test_acc = accuracy(net, *data["test"])
    baseline = nearest_mean_accuracy(data["train"], data["test"], cfg.classes)
    card = {
        "family": "classifier",
        "description": "glyph classifier (62 characters); its 128-d features serve FID/KID",
        "config": config_to_card(cfg),
        "data": {"name": "glyphs", "build": "latent-studio data build glyphs",
                 "images": {k: int(len(v[0])) for k, v in data.items()}},
        "training": {"command": f"latent-studio train classifier --epochs {epochs} "
                                f"--seed {seed}", "seed": seed, "history": history,
                     "machine": f"{platform.machine()}, torch {torch.__version__}",
                     "parameters": sum(p.numel() for p in net.parameters())},
        "baseline": "nearest class mean on pixels, same test split (font families unseen)",
        "metrics": {"test_accuracy": round(test_acc, 4),
                    "baseline_nearest_mean_accuracy": round(baseline, 4),
                    "train_seconds": round(time.time() - t0)},
    }
    save_checkpoint(out, net.state_dict(), card, half=True)
    return card
