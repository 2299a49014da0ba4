"""PCA baseline: the best linear reconstruction with k components (exact, not randomised)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class PCA:
    """Mean (P,) and orthonormal components (k, P) fit on a training set."""

    mean: torch.Tensor
    components: torch.Tensor

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Project (N, P) onto the components and back."""
        c = x - self.mean
        return c @ self.components.T @ self.components + self.mean


def fit_pca(x: torch.Tensor, k: int) -> PCA:
    """Fit k components to (N, P) in float64, through whichever Gram matrix is smaller."""
    x = x.double()
    mean = x.mean(0)
    c = x - mean
    if c.shape[0] >= c.shape[1]:
        _, vecs = torch.linalg.eigh(c.T @ c)
        comps = vecs[:, -k:].flip(1).T
    else:
        vals, vecs = torch.linalg.eigh(c @ c.T)
        u = vecs[:, -k:].flip(1)
        s = vals[-k:].flip(0).clamp_min(1e-12).sqrt()
        comps = (c.T @ u / s).T
    return PCA(mean.float(), comps.float().contiguous())
