"""Train the style generator (a style autoencoder) and write weights + model card.

    latent-studio train stylegen --data glyphs --minutes 60

Training runs for a wall-clock budget (``--minutes``) on the best device (a GPU when there is
one, else the CPU), with a cosine learning-rate decay over that budget. Each step, on the
glyph set:

* *swap*: glyph c of font f1 gives the content rows of W+ (``content_layers``), 1-``shots``
  glyphs of font f2 (their codes averaged) give the style rows; the generator must draw c in
  f2, which the data set holds. This is what puts the character in the 4x4 layers and the
  font in the rest, and what "this letter in that font" uses;
* *reconstruction* of c in f2 from its own codes;
* *invariance*: the content rows of c in f1 and c in f2 agree (relative to the codes' spread);
* *latent consistency* E(G(w_mix)) ~ w_mix for random crossovers of two codes, so any mixed
  code (the Style Mixer's grid) stays a code the generator knows;
* optionally, from ``adv_start`` of the budget on, a non-saturating adversarial loss from a
  small convolutional critic with an R1 penalty (``--adv-weight``).

On a data set without font labels (emoji) the swap and invariance terms are left out.
Weights are an exponential moving average of the trained ones. After training, a PCA of the
training set's codes and a Gaussian mixture in it are fit (the sampler; Ghosh et al. 2020).
"""

from __future__ import annotations

import copy
import json
import math
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from models.checkpoints import save_checkpoint
from models.image.stylegen import (
    StyleAutoencoder,
    StyleGenConfig,
    config_from_card,
    config_to_card,
)
from models.protocol import JobContext


@dataclass(frozen=True)
class TrainConfig:
    data: str = "glyphs"
    minutes: float = 60.0
    batch: int = 64
    shots: int = 4              # style glyphs per swap, 1..shots drawn per example
    lr: float = 5e-4
    consistency: float = 20.0
    invariance: float = 5.0
    adv_weight: float = 0.0
    adv_start: float = 0.5      # fraction of the budget after which the critic joins
    w_dim: int = 64
    width: int = 32
    max_width: int = 128
    content_layers: int = 2
    pca_dim: int = 128          # the sampler: PCA dimensions (at most the size of W+) ...
    mixture: int = 16           # ... and Gaussian components
    ema: float = 0.999
    seed: int = 0
    device: str = "auto"
    max_steps: int = 0          # stop after this many steps (0: the budget decides)
    log_seconds: float = 60.0
    init: str = ""              # continue from these weights (same architecture)


def glyph_table(data: str, path: Path | None = None) -> dict[str, Any]:
    """The plain splits (uint8 (N, H, W, C) each) and, for a data set of every character in
    every font (glyphs), ``by_font``: per split and "all" (F, K, H, W, C), with the font
    table and the characters; ``by_font`` is None otherwise."""
    from models.train.vae import by_split, open_data

    images, d = open_data(data, path)
    out: dict[str, Any] = by_split(images, d["split"])
    out["by_font"] = None
    if "font" in d and "char" in d:
        k = int(d["char"].max()) + 1
        fonts = json.loads(str(d["fonts"]))
        if len(images) == len(fonts) * k and np.array_equal(
                d["char"], np.tile(np.arange(k), len(fonts))):
            grid = images.reshape(len(fonts), k, *images.shape[1:])
            fsplit = np.array([f["split"] for f in fonts])
            out["by_font"] = {**by_split(grid, fsplit), "all": grid}
            out["fonts"] = fonts
            out["chars"] = str(d["chars"])
    return out


class Critic(nn.Module):
    """A small convolutional critic for the optional adversarial loss."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        c = [width, width * 2, width * 4, width * 4]
        layers: list[nn.Module] = [nn.Conv2d(channels, c[0], 3, padding=1), nn.LeakyReLU(0.2)]
        for a, b in zip(c, c[1:] + [c[-1]]):
            layers += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(c[-1] * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x * 2 - 1).flatten(1))


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE summed over an image's pixels, mean over the batch (the VAE's scale): a mean over
    pixels let the code terms win early and the encoder collapse to one code."""
    return F.binary_cross_entropy_with_logits(logits.float(), target, reduction="sum"
                                              ) / len(target)


def _pick_device(name: str) -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def train(cfg: TrainConfig, out: Path, data_path: Path | None = None,
          ctx: JobContext | None = None, log=print, measure_after: bool = True,
          data_card: dict[str, Any] | None = None, command: str = "") -> dict[str, Any]:
    """Train for ``cfg.minutes``, fit the sampler, write ``out`` + card; measure if asked."""
    ctx = ctx or JobContext()
    device = _pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    g = torch.Generator(device=device).manual_seed(cfg.seed)
    table = glyph_table(cfg.data, data_path)
    h, w, c = table["train"].shape[1:]
    gcfg = StyleGenConfig(image_size=h, channels=c, w_dim=cfg.w_dim, width=cfg.width,
                          max_width=cfg.max_width, content_layers=cfg.content_layers,
                          chars=table.get("chars", "") if table["by_font"] is not None else "")
    gcfg = replace(gcfg, pca_dim=min(cfg.pca_dim, gcfg.layers * gcfg.w_dim),
                   mixture=cfg.mixture)
    net = StyleAutoencoder(gcfg)
    earlier: list[dict[str, Any]] = []
    if cfg.init:
        from models.checkpoints import load_checkpoint, load_state

        ckpt = load_checkpoint(cfg.init)
        load_state(net, ckpt.state)
        before = ckpt.card.get("training", {})
        earlier = before.get("stages", []) or [{
            k: before.get(k) for k in ("command", "device", "steps", "train_seconds")}]
    net = net.to(device)
    ema = copy.deepcopy(net).eval()
    params = list(net.encoder.parameters()) + list(net.synthesis.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(0.9, 0.99))
    critic = Critic(c).to(device) if cfg.adv_weight > 0 else None
    opt_d = (torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=(0.5, 0.99))
             if critic is not None else None)
    by_font = table["by_font"]
    if by_font is not None:
        grid = torch.from_numpy(by_font["train"]).to(device)   # (F, K, H, W, C) uint8
        n_fonts, n_chars = grid.shape[:2]
    plain = torch.from_numpy(table["train"]).to(device)
    if device == "cuda":             # float32 with TF32 matrix products
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    def imgs(x: torch.Tensor) -> torch.Tensor:      # uint8 (..., H, W, C) -> float (N, C, H, W)
        return x.reshape(-1, h, w, c).permute(0, 3, 1, 2).float() / 255.0

    def noise(n: int) -> list[torch.Tensor]:
        return [torch.randn(n, 1, r, r, device=device, generator=g) for r in gcfg.resolutions]

    budget = cfg.minutes * 60.0
    k, B, L = gcfg.content_layers, cfg.batch, gcfg.layers
    history: list[dict[str, Any]] = []
    t0 = time.time()
    step, last_log = 0, t0
    running: dict[str, float] = {}
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1.0 or (cfg.max_steps and step >= cfg.max_steps):
            break
        ctx.report(frac)
        lr = cfg.lr * (min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        for group in opt.param_groups:
            group["lr"] = lr
        losses: dict[str, torch.Tensor] = {}
        if by_font is not None:
            f1 = torch.randint(n_fonts, (B,), device=device, generator=g)
            f2 = torch.randint(n_fonts, (B,), device=device, generator=g)
            ch = torch.randint(n_chars, (B,), device=device, generator=g)
            d = torch.randint(n_chars, (B, cfg.shots), device=device, generator=g)
            n_shot = torch.randint(1, cfg.shots + 1, (B,), device=device, generator=g)
            x_content, x_target = imgs(grid[f1, ch]), imgs(grid[f2, ch])
            x_style = imgs(grid[f2[:, None], d])
            codes = net.encoder(torch.cat([x_content, x_target, x_style]))
            wc, wt = codes[:B], codes[B:2 * B]
            ws = codes[2 * B:].view(B, cfg.shots, L, -1)
            mask = (torch.arange(cfg.shots, device=device)[None] < n_shot[:, None]).float()
            style = (ws * mask[:, :, None, None]).sum(1) / n_shot[:, None, None].float()
            mixed = torch.cat([wc[:, :k], style[:, k:]], 1)
            out_swap = net.synthesis(torch.cat([mixed, wt]), noise(2 * B))
            losses["swap"] = _bce(out_swap[:B], x_target)
            losses["rec"] = _bce(out_swap[B:], x_target)
            losses["inv"] = cfg.invariance * (wc[:, :k] - wt[:, :k]).float().pow(2).mean()
            fakes = [out_swap[:B]]
        else:
            idx = torch.randint(len(plain), (B,), device=device, generator=g)
            x_target = imgs(plain[idx])
            wt = net.encoder(x_target)
            out_rec = net.synthesis(wt, noise(B))
            losses["rec"] = _bce(out_rec, x_target)
            fakes = [out_rec]
        # latent consistency of random crossovers of two codes
        cut = torch.randint(1, L, (B,), device=device, generator=g)
        other = wt.detach().roll(1, 0)
        take_b = (torch.arange(L, device=device)[None] >= cut[:, None]).float()[..., None]
        w_mix = wt.detach() * (1 - take_b) + other * take_b
        out_mix = net.synthesis(w_mix, noise(B))
        back = net.encoder(torch.sigmoid(out_mix.float()))
        losses["cons"] = cfg.consistency * (back.float() - w_mix.float()).pow(2).mean()
        fakes.append(out_mix)
        adv_on = critic is not None and frac >= cfg.adv_start
        if adv_on:
            fake = torch.sigmoid(torch.cat(fakes).float())
            losses["adv"] = cfg.adv_weight * F.softplus(-critic(fake)).mean()
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        if adv_on:
            for group in opt_d.param_groups:
                group["lr"] = lr
            real = x_target.detach().requires_grad_(step % 4 == 0)
            fake = torch.sigmoid(torch.cat(fakes).detach().float())
            d_real, d_fake = critic(real).float(), critic(fake).float()
            loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            if step % 4 == 0:
                (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
                loss_d = loss_d + 4 * 5.0 * grad.pow(2).sum(dim=(1, 2, 3)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        with torch.no_grad():
            decay = cfg.ema if cfg.init else min(cfg.ema, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - decay)
        for name, v in losses.items():
            v = float(v.detach())
            running[name] = running.get(name, v) * 0.9 + v * 0.1
        step += 1
        if time.time() - last_log > cfg.log_seconds or step == 1:
            last_log = time.time()
            history.append({"step": step, "seconds": round(time.time() - t0),
                            "lr": round(lr, 6), **{n: round(v, 5) for n, v in running.items()}})
            log(json.dumps(history[-1]))
    train_seconds = time.time() - t0
    log(json.dumps({"steps": step, "seconds": round(train_seconds)}))
    # One pass of the encoder over the training set serves both fits (for glyphs the plain
    # train split and the by-font grid hold the same pictures in the same order).
    codes = encode_all(ema, table["train"], device)
    fit_sampler(ema, codes)
    if gcfg.chars:
        fit_char_content(ema, codes.view(*table["by_font"]["train"].shape[:2], *codes.shape[1:]))
    command = command or (
        f"latent-studio train stylegen --data {cfg.data} --minutes {cfg.minutes:g}"
        f" --batch {cfg.batch} --lr {cfg.lr:g} --adv-weight {cfg.adv_weight:g}"
        f" --seed {cfg.seed}" + (f" --init {cfg.init}" if cfg.init else ""))
    stage = {"command": command,
             "device": device if device == "cpu" else torch.cuda.get_device_name(),
             "steps": step, "train_seconds": round(train_seconds)}
    n_params = sum(p.numel() for p in ema.encoder.parameters()) + sum(
        p.numel() for p in ema.synthesis.parameters())
    card = {
        "family": "stylegen",
        "description": (f"style autoencoder on {cfg.data} ({h}x{w}x{c}), W+ {gcfg.layers}x"
                        f"{gcfg.w_dim}; rows 0-{k - 1} content, {k}-{gcfg.layers - 1} style"),
        "config": config_to_card(gcfg),
        "data": data_card or _data_card(cfg.data, table),
        "layers": layer_card(gcfg),
        "training": {
            "command": command,
            "seed": cfg.seed,
            "hyperparameters": asdict(cfg),
            "device": stage["device"],
            "steps": step,
            "train_seconds": round(train_seconds),
            "stages": earlier + [stage],
            "why": ("A style autoencoder rather than a GAN: users mix their own pictures, so an "
                    "encoder into W+ is needed anyway, and it trains on the CPU; supervised "
                    "swaps (the data set holds every character of every font) make the "
                    "content/style split a trained property instead of a hope. Modulated "
                    "convolutions unfused (5-10x faster on the CPU than grouped)."),
            "losses": {
                "swap": "BCE of G(content rows of c in f1 + mean style rows of 1-4 glyphs of "
                        "f2) against c in f2: puts content in rows 0..k-1, style in the rest",
                "rec": "BCE of G(E(x)) against x: the autoencoder",
                "inv": "content rows of c in f1 and c in f2 agree (rows are at unit RMS)",
                "cons": "E(G(w_mix)) ~ w_mix for random crossovers: mixed codes stay codes",
                "adv": "non-saturating critic loss with R1 (only when --adv-weight > 0)",
            },
            "history": history,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
                       f"torch {torch.__version__}",
            "parameters": n_params,
            "storage": "float16",
        },
        "baseline": ("glyph VAE (resources/weights/vae-glyphs): its latent analogy for style "
                     "transfer, its prior samples for FID, its reconstructions for MSE"),
        "metrics": {},
    }
    save_checkpoint(out, ema.state_dict(), card, half=True)
    if measure_after and gcfg.chars:
        card = measure(out, data_path=data_path, log=log)
    elif measure_after:
        log("the measurements need a data set of characters in fonts (glyphs); none written")
    return card


def layer_card(cfg: StyleGenConfig) -> dict[str, Any]:
    """Which W+ rows carry what, and the Style Mixer's presets."""
    from models.tasks.stylemix import presets

    res = cfg.resolutions
    k = cfg.content_layers
    return {
        "resolutions": list(res),
        "content": list(range(k)),
        "style": list(range(k, cfg.layers)),
        "presets": {name: list(rows) for name, rows in presets(cfg.spec()).items()},
        "what": (f"trained so: rows 0-{k - 1} ({res[0]}x{res[0]}) the character, rows "
                 f"{k}-{cfg.layers - 1} ({res[k]} px up) the font; how far that holds is "
                 "measured by --measure (layers.measured)"),
    }


@torch.no_grad()
def encode_all(net: StyleAutoencoder, images: np.ndarray, device: str, batch: int = 512
               ) -> torch.Tensor:
    """The encoder's codes (N, layers, w_dim), float32 on ``device``, of uint8 (N, H, W, C)."""
    codes = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).to(device).permute(0, 3, 1, 2)
        codes.append(net.encoder(x.float() / 255.0).float())
    return torch.cat(codes)


@torch.no_grad()
def fit_sampler(net: StyleAutoencoder, codes: torch.Tensor, iters: int = 60, seed: int = 0
                ) -> None:
    """Fit the code mean, a PCA and a full-covariance Gaussian mixture to the training set's
    codes (N, layers, w_dim) and store them in ``net``'s buffers."""
    cfg = net.cfg
    z = codes.double().flatten(1)
    mean = z.mean(0)
    zc = z - mean
    _, vecs = torch.linalg.eigh(zc.T @ zc)
    comps = vecs[:, -cfg.pca_dim:].flip(1).T.contiguous()        # (k, D)
    p = zc @ comps.T                                               # (N, k)
    weights, means, chol = _gmm(p, cfg.mixture, iters, seed)
    weights, means, chol = weights.cpu(), means.cpu(), chol.cpu()
    net.code_mean.copy_(mean.view(cfg.layers, cfg.w_dim).float())
    net.pca_components.copy_(comps.float())
    net.gmm_weights.copy_(weights.float())
    net.gmm_means.copy_(means.float())
    net.gmm_chol.copy_(chol.float())


@torch.no_grad()
def fit_char_content(net: StyleAutoencoder, codes: torch.Tensor) -> None:
    """From codes (F, K, layers, w_dim) of K characters in F fonts, store each character's
    content rows averaged over the fonts (each row brought back to unit RMS like the
    encoder's) and its style rows averaged (what a style code owes to the character, not the
    font)."""
    k = net.cfg.content_layers
    rows_c = codes[:, :, :k].float().mean(0)
    net.char_content.copy_(rows_c * torch.rsqrt(rows_c.pow(2).mean(-1, keepdim=True) + 1e-8))
    net.char_style.copy_(codes[:, :, k:].float().mean(0))


def refit(weights: Path, data_path: Path | None = None, log=print) -> dict[str, Any]:
    """Fit the per-character codes of trained weights again (or for the first time, for
    weights from before they were stored) and write them back."""
    from models.checkpoints import load_checkpoint

    ckpt = load_checkpoint(weights)
    net = StyleAutoencoder(config_from_card(ckpt.card))
    state = net.state_dict()
    state.update({k: v.float() for k, v in ckpt.state.items() if k in state})
    net.load_state_dict(state)
    table = glyph_table(ckpt.card.get("data", {}).get("name", "glyphs"), data_path)
    grid = table["by_font"]["train"]
    codes = encode_all(net.eval(), grid.reshape(-1, *grid.shape[2:]), "cpu")
    fit_char_content(net, codes.view(*grid.shape[:2], *codes.shape[1:]))
    card = dict(ckpt.card)
    card.setdefault("training", {})["refit"] = "per-character codes fit again (--refit)"
    save_checkpoint(weights, net.state_dict(), card, half=True)
    log(f"{weights}: per-character codes fit")
    return card


def _gmm(x: torch.Tensor, m: int, iters: int, seed: int):
    """EM for a full-covariance Gaussian mixture (float64) started from ``m`` random points;
    with fewer points than components, the extra components get weight 0."""
    n, k = x.shape
    if n < m:
        w, mu, ch = _gmm(x, n, iters, seed)
        pad = m - n
        return (torch.cat([w, w.new_zeros(pad)]), torch.cat([mu, mu.new_zeros(pad, k)]),
                torch.cat([ch, torch.eye(k, dtype=x.dtype, device=x.device).repeat(pad, 1, 1)]))
    g = torch.Generator().manual_seed(seed)
    means = x[torch.randperm(n, generator=g)[:m].to(x.device)].clone()
    reg = 1e-4 * x.var(0).mean()
    cov = torch.cov(x.T)[None].repeat(m, 1, 1)
    weights = torch.full((m,), 1.0 / m, dtype=x.dtype, device=x.device)
    for _ in range(iters):
        chol = torch.linalg.cholesky(cov + reg * torch.eye(k, dtype=x.dtype, device=x.device))
        diff = x[None] - means[:, None]                                  # (m, n, k)
        sol = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)
        maha = sol.pow(2).sum(1)                                         # (m, n)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1)
        logp = torch.log(weights)[:, None] - 0.5 * (maha + logdet[:, None])
        resp = torch.softmax(logp, 0)                                    # (m, n)
        nk = resp.sum(1) + 1e-9
        weights = nk / n
        means = resp @ x / nk[:, None]
        diff = x[None] - means[:, None]
        cov = (resp[:, :, None] * diff).transpose(1, 2) @ diff / nk[:, None, None]
    chol = torch.linalg.cholesky(cov + reg * torch.eye(k, dtype=x.dtype, device=x.device))
    return weights, means, chol


def _data_card(data: str, table: dict[str, Any]) -> dict[str, Any]:
    sizes = {s: int(len(table[s])) for s in ("train", "val", "test")}
    how = ("A-Z a-z 0-9 rendered at 64x64 from Debian font packages; split 80/10/10 by font "
           "family, seed 0" if data == "glyphs" else "see the data set's builder")
    return {"name": data, "build": f"latent-studio data build {data}", "how": how,
            "images": sizes}


def measure(weights: Path, data_path: Path | None = None, log=print) -> dict[str, Any]:
    """Measure a trained glyph checkpoint on the test split and write the metrics into its
    card."""
    from models.checkpoints import read_card
    from models.eval.stylemix import measure_checkpoint

    if not read_card(weights)["config"].get("chars"):
        raise ValueError(f"{weights}: the measurements need a glyph model (characters in "
                         "fonts)")

    return measure_checkpoint(weights, data_path=data_path, log=log)
