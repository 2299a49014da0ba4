"""Listening/viewing-test statistics: MOS with t intervals, pairwise tests with Holm's
correction, preference shares with Wilson intervals, MUSHRA post-screening and summaries."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class MeanCI:
    """Mean with a two-sided confidence interval (Student t) and its inputs."""

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def mean_ci(values: np.ndarray | list[float], level: float = 0.95) -> MeanCI:
    """Mean and Student-t interval: mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, math.nan, 0)
    m = float(x.mean())
    if n == 1:
        return MeanCI(m, math.nan, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    h = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(m, m - h, m + h, sd, n)


def holm(pvalues: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, (m - rank) * p[i])
        adjusted[i] = min(1.0, running)
    return adjusted.tolist()


@dataclass(frozen=True)
class PairTest:
    a: str
    b: str
    statistic: float
    p: float
    p_holm: float

    @property
    def significant(self) -> bool:
        return self.p_holm < 0.05


def pairwise_mann_whitney(scores: dict[str, list[float]]) -> list[PairTest]:
    """Two-sided Mann–Whitney U between every pair of systems, Holm-corrected.

    Ordinal ratings (ACR, MUSHRA) are not interval data, so a rank test is the safe default.
    """
    pairs = list(itertools.combinations(sorted(scores), 2))
    raw = []
    for a, b in pairs:
        if len(scores[a]) == 0 or len(scores[b]) == 0:
            raw.append((math.nan, 1.0))
            continue
        r = stats.mannwhitneyu(scores[a], scores[b], alternative="two-sided")
        raw.append((float(r.statistic), float(r.pvalue)))
    adj = holm([p for _, p in raw]) if raw else []
    return [PairTest(a, b, s, p, q) for (a, b), (s, p), q in zip(pairs, raw, adj)]


@dataclass(frozen=True)
class Preference:
    """A/B preference of ``a`` over ``b``; ties ("no preference") are reported apart."""

    a: str
    b: str
    wins_a: int
    wins_b: int
    ties: int
    share_a: float  # of decisive answers
    low: float
    high: float
    p: float  # two-sided binomial (sign) test on decisive answers


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    if n == 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf((1 + level) / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def preference(a: str, b: str, wins_a: int, wins_b: int, ties: int) -> Preference:
    n = wins_a + wins_b
    low, high = wilson(wins_a, n)
    p = float(stats.binomtest(wins_a, n, 0.5).pvalue) if n else 1.0
    return Preference(a, b, wins_a, wins_b, ties, wins_a / n if n else math.nan, low, high, p)


MUSHRA_REF_MIN = 90.0
MUSHRA_MAX_FAIL = 0.15


def mushra_screen(ref_scores: dict[str, list[float]]) -> dict[str, bool]:
    """ITU-R BS.1534 post-screening: keep a rater unless they rated the hidden reference
    below 90 on more than 15 % of the items they rated."""
    keep = {}
    for rater, scores in ref_scores.items():
        s = np.asarray(scores, dtype=np.float64)
        fail = float((s < MUSHRA_REF_MIN).mean()) if len(s) else 0.0
        keep[rater] = fail <= MUSHRA_MAX_FAIL
    return keep


@dataclass(frozen=True)
class BoxStats:
    median: float
    q1: float
    q3: float
    low: float  # whiskers: the most extreme values within 1.5 IQR
    high: float
    ci: MeanCI


def box_stats(values: list[float]) -> BoxStats:
    x = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(x, [25, 50, 75])
    iqr = q3 - q1
    inside = x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]
    return BoxStats(float(med), float(q1), float(q3), float(inside.min()), float(inside.max()),
                    mean_ci(x))
