"""Named and principal directions in a latent model's space.

* Principal directions (GANSpace, Härkönen et al. 2020): PCA of the codes of real pictures; a
  step of 1 is one standard deviation of the data along the component.
* Named directions (InterFaceGAN, Shen et al. 2020): the normal of a linear (ridge) fit of a
  label from the codes. Labels are computed offline from the glyphs and their fonts' tables:
  ``bold`` from the ink fraction, ``italic`` from the slant of the ink's second moments,
  ``wide`` from the ink's horizontal spread (each standardised within its character, so a
  direction is about the style, not about which letter it is), ``serif`` and ``monospace``
  from the font tables (PANOSE, isFixedPitch). A step of 1 is one standard deviation of the
  data's codes along the normal.
* For a style-based model (flattened W+ codes, ``layer_shape`` (layers, w_dim)), every
  direction has a layer range it acts on (by default the style layers); changing it moves
  only those layers' rows.
* "Edit this while holding that" (InterFaceGAN's conditional edit): the held directions are
  projected out of the edited one, so moving along it leaves their labels' fit unchanged.

Qt-free; numpy in and out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NAMED = ("bold", "italic", "wide", "serif", "monospace")
MEASURED = {"bold": "ink fraction", "italic": "slant (dx/dy of the ink)",
            "wide": "horizontal spread of the ink (std of x / image width)"}


# -- labels measured on pictures ------------------------------------------------------------

def _ink(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x.mean(axis=3)
    return np.clip(x, 0.0, 1.0)                     # (N, H, W), ink bright on dark


def ink_fraction(images: np.ndarray) -> np.ndarray:
    """Mean ink per picture (N,)."""
    return _ink(images).mean(axis=(1, 2))


def _moments(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ink = _ink(images)
    h, w = ink.shape[1:]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    mass = ink.sum(axis=(1, 2)) + 1e-9
    mx = (ink * xs).sum(axis=(1, 2)) / mass
    my = (ink * ys).sum(axis=(1, 2)) / mass
    dx, dy = xs[None] - mx[:, None, None], ys[None] - my[:, None, None]
    vxx = (ink * dx * dx).sum(axis=(1, 2)) / mass
    vyy = (ink * dy * dy).sum(axis=(1, 2)) / mass
    vxy = (ink * dx * dy).sum(axis=(1, 2)) / mass
    return vxx, vyy, vxy, mass


def slant(images: np.ndarray) -> np.ndarray:
    """How far the ink leans right per unit of height (N,): the regression of x on -y (image
    rows grow downward), so an upright glyph is near 0 and an italic one positive."""
    _, vyy, vxy, _ = _moments(images)
    return -vxy / (vyy + 1e-9)


def spread(images: np.ndarray) -> np.ndarray:
    """Standard deviation of the ink's x, as a fraction of the picture's width (N,)."""
    vxx, _, _, _ = _moments(images)
    return np.sqrt(vxx) / _ink(images).shape[2]


MEASURES = {"bold": ink_fraction, "italic": slant, "wide": spread}


def glyph_labels(images: np.ndarray, chars: np.ndarray, fonts: list[dict],
                 font_of: np.ndarray) -> dict[str, np.ndarray]:
    """Labels (N,) per named direction; NaN where unknown (a font that does not say whether it
    has serifs). Measured labels are standardised within each character."""
    chars = np.asarray(chars)
    out: dict[str, np.ndarray] = {}
    for name, fn in MEASURES.items():
        v = fn(images)
        z = np.zeros_like(v)
        for c in np.unique(chars):
            m = chars == c
            z[m] = (v[m] - v[m].mean()) / (v[m].std() + 1e-9)
        out[name] = z
    tags = [set(fonts[int(f)].get("tags", ())) for f in font_of]
    serif = np.array([1.0 if "serif" in t else (-1.0 if "sans" in t else np.nan) for t in tags])
    out["serif"] = serif
    out["monospace"] = np.array([1.0 if "monospace" in t else -1.0 for t in tags])
    return out


# -- directions -----------------------------------------------------------------------------

@dataclass
class Direction:
    name: str
    vector: np.ndarray            # (D,), unit length
    unit: float                   # std of the data's codes along it: a step of 1
    kind: str                     # "named" or "principal"
    label: str = ""               # what it was fitted to
    layers: tuple[int, int] | None = None   # [start, stop) rows of W+ it acts on by default
    explained: float = 0.0        # principal: fraction of the variance
    # A W-space direction repeated over the W+ rows (GANSpace on a GAN): a step of 1 moves
    # every row it acts on by one std of W, whatever the layer range (no renormalising).
    per_row: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": round(float(self.unit), 6), "kind": self.kind,
                "label": self.label, "layers": list(self.layers) if self.layers else None,
                "explained": round(float(self.explained), 6), "per_row": self.per_row}


@dataclass
class DirectionSet:
    """Directions of one model's latent space (D = its latent size)."""

    directions: list[Direction]
    layer_shape: tuple[int, int] | None = None     # (layers, w_dim) of flattened W+ codes
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.directions]

    def get(self, name: str) -> Direction:
        for d in self.directions:
            if d.name == name:
                return d
        raise KeyError(f"no direction named '{name}' (directions: {', '.join(self.names)})")

    @property
    def size(self) -> int:
        return int(self.directions[0].vector.size) if self.directions else 0

    def _mask(self, v: np.ndarray, layers: tuple[int, int] | None) -> np.ndarray:
        if layers is None or self.layer_shape is None:
            return v
        n, w = self.layer_shape
        a, b = int(layers[0]), int(layers[1])
        if not 0 <= a < b <= n:
            raise ValueError(f"layer rows {a}-{b - 1} are not within 0-{n - 1}")
        rows = v.reshape(n, w).copy()
        rows[:a] = 0.0
        rows[b:] = 0.0
        return rows.reshape(-1)

    def vector(self, name: str, layers: tuple[int, int] | None | str = "default",
               hold: tuple[str, ...] | list[str] = ()) -> np.ndarray:
        """The step of ``name`` (one unit long in the data's spread), on ``layers`` (the
        direction's own range by default; None: every layer), with the ``hold`` directions
        projected out."""
        d = self.get(name)
        rng = d.layers if layers == "default" else layers
        v = self._mask(d.vector.astype(np.float64), rng)
        held = [self._mask(self.get(h).vector.astype(np.float64), rng)
                for h in hold if h != name]
        if d.per_row and not held:      # one std of W on every row of the range
            return (v * d.unit).astype(np.float32)
        if held:
            q, _ = np.linalg.qr(np.stack(held, 1))          # orthonormal basis of the held
            v = v - q @ (q.T @ v)
        norm = np.linalg.norm(v)
        if norm < 1e-8:
            raise ValueError(f"'{name}' has nothing left once {', '.join(hold)} is held")
        return (v / norm * d.unit).astype(np.float32)

    def apply(self, latents: np.ndarray, name: str, amount: float,
              layers: tuple[int, int] | None | str = "default",
              hold: tuple[str, ...] | list[str] = ()) -> np.ndarray:
        z = np.asarray(latents, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.size:
            raise ValueError(f"expected latents (N, {self.size}), got {tuple(z.shape)}")
        return z + float(amount) * self.vector(name, layers, hold)[None]

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        import torch

        from models.checkpoints import save_checkpoint

        card = dict(self.card)
        card.update(family="directions",
                    config={"directions": [d.to_json() for d in self.directions],
                            "layer_shape": list(self.layer_shape) if self.layer_shape else None,
                            "size": self.size})
        vectors = torch.from_numpy(np.stack([d.vector for d in self.directions]).astype(
            np.float32))
        return save_checkpoint(path, {"vectors": vectors}, card)

    @classmethod
    def load(cls, path: str | Path) -> DirectionSet:
        from models.checkpoints import CheckpointError, load_checkpoint

        ckpt = load_checkpoint(path)
        if ckpt.card.get("family") != "directions":
            raise CheckpointError(f"{path}: not a directions file")
        cfg = ckpt.card["config"]
        vecs = ckpt.state["vectors"].float().numpy()
        dirs = [Direction(name=j["name"], vector=vecs[i], unit=float(j["unit"]),
                          kind=j["kind"], label=j.get("label", ""),
                          layers=tuple(j["layers"]) if j.get("layers") else None,
                          explained=float(j.get("explained", 0.0)),
                          per_row=bool(j.get("per_row", False)))
                for i, j in enumerate(cfg["directions"])]
        shape = tuple(cfg["layer_shape"]) if cfg.get("layer_shape") else None
        return cls(dirs, shape, ckpt.card)


def fit(latents: np.ndarray, labels: dict[str, np.ndarray], n_principal: int = 8,
        layer_shape: tuple[int, int] | None = None,
        named_layers: tuple[int, int] | None = None, ridge: float = 1e-2) -> DirectionSet:
    """Principal directions of ``latents`` (N, D) and a named direction per label (the normal
    of a ridge regression of the label, rows with a NaN label left out)."""
    z = np.asarray(latents, dtype=np.float64)
    mean = z.mean(0)
    c = z - mean
    # Named directions of a style model are fitted on the rows they act on.
    cols = np.arange(z.shape[1])
    if layer_shape is not None and named_layers is not None:
        cols = np.arange(z.shape[1]).reshape(layer_shape)[named_layers[0]:named_layers[1]]
        cols = cols.reshape(-1)
    dirs: list[Direction] = []
    for name, y in labels.items():
        ok = np.isfinite(y)
        if ok.sum() < 10 or np.std(y[ok]) == 0:
            continue
        x = c[ok][:, cols]
        x = x - x.mean(0)
        t = y[ok] - y[ok].mean()
        gram = x.T @ x
        lam = ridge * np.trace(gram) / gram.shape[0]
        w = np.zeros(z.shape[1])
        w[cols] = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), x.T @ t)
        v = w / (np.linalg.norm(w) + 1e-12)
        dirs.append(Direction(name, v.astype(np.float32), float(np.std(c @ v)), "named",
                              label=MEASURED.get(name, f"font table: {name}"),
                              layers=named_layers))
    if n_principal:
        cov = c.T @ c / max(len(c) - 1, 1)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][:n_principal]
        total = float(vals.sum())
        for k, i in enumerate(order):
            v = vecs[:, i]
            v = v * (np.sign(v[np.argmax(np.abs(v))]) or 1.0)      # a fixed sign
            dirs.append(Direction(f"pc{k + 1}", v.astype(np.float32),
                                  float(np.sqrt(max(vals[i], 0.0))), "principal",
                                  label="principal component of the codes",
                                  explained=float(vals[i] / total) if total else 0.0))
    return DirectionSet(dirs, layer_shape)


def fit_w_space(w: np.ndarray, num_ws: int, n_principal: int = 12) -> DirectionSet:
    """GANSpace on a GAN: principal components of W (N, w_dim) sampled through its mapping,
    each repeated over the ``num_ws`` rows of W+ (flattened); a step of 1 moves every row it
    acts on by one standard deviation of W along the component (``per_row``)."""
    x = np.asarray(w, dtype=np.float64)
    c = x - x.mean(0)
    vals, vecs = np.linalg.eigh(c.T @ c / max(len(c) - 1, 1))
    order = np.argsort(vals)[::-1][:n_principal]
    total = float(vals.sum())
    dirs = []
    for k, i in enumerate(order):
        v = vecs[:, i] * (np.sign(vecs[np.argmax(np.abs(vecs[:, i])), i]) or 1.0)
        tiled = np.tile(v, num_ws) / np.sqrt(num_ws)
        dirs.append(Direction(f"pc{k + 1}", tiled.astype(np.float32),
                              float(np.sqrt(max(vals[i], 0.0)) * np.sqrt(num_ws)),
                              "principal", label="principal component of W (GANSpace)",
                              explained=float(vals[i] / total) if total else 0.0,
                              per_row=True))
    return DirectionSet(dirs, (num_ws, x.shape[1]))


def measure(backend: Any, classifier: Any, directions: DirectionSet, images: np.ndarray,
            chars: np.ndarray, amounts: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0),
            names: tuple[str, ...] | None = None, z: np.ndarray | None = None
            ) -> dict[str, Any]:
    """Per named direction and amount: the mean of its measured label (ink fraction, slant,
    spread) of the decoded pictures and how often the glyph classifier still reads their
    character; for the measured ones also the label's change per step. ``z``: the pictures'
    codes where the caller has them already."""
    z = backend.encode(images) if z is None else z
    out: dict[str, Any] = {}
    chars = np.asarray(chars)
    for name in names or [n for n in directions.names if n in NAMED]:
        rows = []
        for a in amounts:
            pics = backend.decode(directions.apply(z, name, a))
            row: dict[str, float] = {"amount": float(a)}
            for label, fn in MEASURES.items():
                row[label] = round(float(fn(pics).mean()), 5)
            row["read"] = round(float((classifier.run(pics)[1].argmax(1) == chars).mean()), 4)
            rows.append(row)
        entry: dict[str, Any] = {"steps": rows}
        if name in MEASURES:
            vals = [r[name] for r in rows]
            entry["monotone"] = bool(all(b > a for a, b in zip(vals, vals[1:])))
            entry["change_per_step"] = round((vals[-1] - vals[0]) / (amounts[-1] - amounts[0]),
                                             6)
        out[name] = entry
    return out
