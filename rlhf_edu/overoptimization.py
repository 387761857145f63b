"""Over-optimisation curves: gold reward against distance from the initial policy (Gao et al., 2022).

Gao, Schulman & Hilton (2022), "Scaling Laws for Reward Model Overoptimization", optimise a policy
against a *proxy* reward model and measure a *gold* one (a larger reward model standing in for
humans). The proxy keeps rising; the gold rises, peaks and falls: Goodhart's law, measured. With the
distance d = sqrt(KL(pi || pi_init)) (KL in nats; the square root because KL is a quadratic measure
of distance), their section 1 gives

    best-of-n:  R_bon(d) = d (alpha - beta d)
    RL:         R_RL(d)  = d (alpha - beta log d)

with R the gold score *relative to the initial policy's* (R(0) := 0 by definition; they recentre
every reward model so the initial policy scores 0), so pass gold - gold(initial policy). Their
best-of-n KL is the analytic log n - (n - 1)/n (``best_of_n.kl_bound``), an upper bound on the true
KL (``best_of_n.kl_estimate``). They note the RL form "likely does not hold near the origin, as it
has infinite slope there". log is natural here: another base only rescales beta (d* and the
fitted curve are the same). Their reading: alpha is the useful slope minus regressional Goodhart
(the proxy's noise), beta the out-of-distribution (extremal) Goodhart that turns the curve over.

Both forms are linear in (alpha, beta), so the least-squares fit is closed form (``fit``). The peak:
best-of-n at d* = alpha / (2 beta), gold alpha^2 / (4 beta); RL at d* = exp(alpha / beta - 1)
(where alpha - beta - beta log d = 0), gold beta d*.

R^2 without an intercept. The forms have none (R(0) = 0), and then two R^2 are in use: centred,
1 - SS_res / sum (y - mean y)^2 (compares with a flat line at the mean gold), and uncentred,
1 - SS_res / sum y^2 (compares with the line R = 0; statsmodels reports it for models without a
constant). ``r2`` is the centred one: the uncentred one rewards any curve that merely has the data's
scale. Fitting the wrong form to noiseless curves that peak inside the data (d up to 4 or 6), the
uncentred R^2 is 0.94-0.997, the centred 0.77-0.98. Centred R^2 can be negative (worse than the
mean). Even centred, the two humps are alike, so R^2 alone says little about which form holds: the
residuals' pattern and extrapolation to larger KL (Gao et al., section 3.1) say more.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

FORMS = ("bon", "rl")


class Fit(NamedTuple):
    """A fitted over-optimisation curve and its peak (d* = inf when the fitted curve never turns over)."""
    form: str          # "bon" or "rl"
    alpha: float
    beta: float
    r2: float          # centred R^2 (module docstring)
    peak_d: float      # d* = sqrt(KL) where the fitted gold peaks
    peak_kl: float     # d*^2, nats
    peak_gold: float   # R(d*), relative to the initial policy
    kl_max: float      # the largest KL fitted: the curve is measured up to here, extrapolated beyond


# --- the two forms -----------------------------------------------------------------------

def _d_log_d(d: np.ndarray) -> np.ndarray:
    """d log d, with its limit 0 at d = 0 (so R_RL(0) = 0)."""
    safe = np.where(d > 0, d, 1.0)
    return np.where(d > 0, d * np.log(safe), 0.0)


def gold_bon(d, alpha: float, beta: float) -> np.ndarray:
    """R_bon(d) = d (alpha - beta d), d = sqrt(KL)."""
    d = np.asarray(d, dtype=np.float64)
    return d * (alpha - beta * d)


def gold_rl(d, alpha: float, beta: float) -> np.ndarray:
    """R_RL(d) = d (alpha - beta log d), d = sqrt(KL); 0 at d = 0."""
    d = np.asarray(d, dtype=np.float64)
    return alpha * d - beta * _d_log_d(d)


def _design(d: np.ndarray, form: str) -> np.ndarray:
    """The columns R is linear in: R = alpha * x1 + beta * x2."""
    return np.stack([d, -d * d if form == "bon" else -_d_log_d(d)], axis=1)


def peak(form: str, alpha: float, beta: float) -> tuple[float, float]:
    """(d*, R(d*)) of the curve over d >= 0; (inf, inf) when it grows without bound, (0, 0) when it never rises."""
    _check_form(form)
    if beta <= 0:  # no turn-over: unbounded if it rises at all, else its best is at d = 0
        return (math.inf, math.inf) if (alpha > 0 or beta < 0) else (0.0, 0.0)
    if form == "bon":
        return (alpha / (2 * beta), alpha ** 2 / (4 * beta)) if alpha > 0 else (0.0, 0.0)
    with np.errstate(over="ignore"):
        d_star = float(np.exp(alpha / beta - 1.0))
    return d_star, beta * d_star


# --- fitting -------------------------------------------------------------------------------

def _check_form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return form


def fit(kl, gold, form: str) -> Fit:
    """Least-squares (alpha, beta) of ``form`` through the points (kl[i], gold[i]), closed form.

    kl: KL(pi || pi_init) of each policy, nats (>= 0). gold: its gold score minus the initial
    policy's. Needs >= 2 points at two distinct KL > 0 (and, for "rl", not only at KL 0 and 1,
    where d log d = 0). Raises a ValueError naming the argument on bad input.
    """
    _check_form(form)
    kl = np.asarray(kl, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.float64)
    if kl.ndim != 1 or kl.shape != gold.shape:
        raise ValueError(f"kl and gold must be 1-D and the same length, got shapes {kl.shape} and {gold.shape}")
    if len(kl) < 2:
        raise ValueError(f"kl needs >= 2 points to fit two parameters, got {len(kl)}")
    if not np.isfinite(kl).all():
        raise ValueError("kl contains NaN or inf")
    if not np.isfinite(gold).all():
        raise ValueError("gold contains NaN or inf")
    if (kl < 0).any():
        raise ValueError(f"kl must be >= 0 (a KL divergence), got {kl.min():g}")
    X = _design(np.sqrt(kl), form)
    coef, _, rank, _ = np.linalg.lstsq(X, gold, rcond=None)
    if rank < 2:
        raise ValueError(f"kl needs two distinct values > 0 (and for 'rl' not only KL = 1) to fit alpha and "
                         f"beta, got {sorted(set(kl.tolist()))}")
    alpha, beta = float(coef[0]), float(coef[1])
    residual = gold - X @ coef
    spread = float(np.sum((gold - gold.mean()) ** 2))
    ss_res = float(residual @ residual)
    r2 = 1.0 - ss_res / spread if spread > 0 else (1.0 if ss_res == 0 else math.nan)
    d_star, gold_star = peak(form, alpha, beta)
    return Fit(form, alpha, beta, r2, d_star, d_star ** 2, gold_star, float(kl.max()))


def predict(f: Fit, kl) -> np.ndarray:
    """The fitted gold score at ``kl`` (nats)."""
    kl = np.asarray(kl, dtype=np.float64)
    if not np.isfinite(kl).all() or (kl < 0).any():
        raise ValueError("kl must be finite and >= 0")
    return (gold_bon if f.form == "bon" else gold_rl)(np.sqrt(kl), f.alpha, f.beta)


def curve(f: Fit, kl_max: float | None = None, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(kl, gold) on a grid evenly spaced in d = sqrt(KL) from 0 to ``kl_max`` (default: the largest fitted KL).

    Even in d because the paper's plots have a square-root KL axis. Past ``f.kl_max`` the curve is
    an extrapolation.
    """
    kl_max = f.kl_max if kl_max is None else kl_max
    if not (math.isfinite(kl_max) and kl_max > 0):
        raise ValueError(f"kl_max must be finite and > 0, got {kl_max}")
    if int(points) != points or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points}")
    d = np.linspace(0.0, math.sqrt(kl_max), int(points), dtype=np.float64)
    return d ** 2, predict(f, d ** 2)
