"""BG/NBD (repeat purchases) and Gamma-Gamma (value per purchase) in numpy/scipy, vectorised.

The likelihoods and the conditional expectations are those of Fader, Hardie & Lee (2005) "Counting your
customers the easy way" and Fader & Hardie's note 025 (Gamma-Gamma), written exactly as the reference
implementation, lifetimes 0.11.3, writes them (its BetaGeoFitter and GammaGammaFitter are the test
oracle: tests/sql/test_ltv_predicted.py). Differences, all on purpose:

- the gradients are analytic (lifetimes differentiates with autograd), so a fit takes a few dozen
  vectorised passes over the data;
- every observation carries a weight, so a fit runs over the distinct (frequency, recency, tenure)
  rows of a summary, not over customers: 5 M customers fit as fast as their few hundred thousand
  distinct histories;
- parameters are optimised on the log scale by L-BFGS-B within [-20, 20] (lifetimes: BFGS, unbounded),
  times scaled so the longest tenure is 1 and values so the mean is 1 (lifetimes scales time only);
  a fit that ends on a bound, is not finite, or that neither scipy reports as converged nor ends
  with a gradient below GRADIENT_TOLERANCE is returned with `converged = False` and its message, for
  the caller to report, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

LOG_BOUND = 20.0
GRADIENT_TOLERANCE = 1e-4  # of the mean log-likelihood per observation, in log-parameters


@dataclass(frozen=True)
class Fit:
    params: dict[str, float]  # NaN when the fit is unusable
    converged: bool
    message: str
    log_likelihood: float  # mean per (weighted) observation, at the parameters
    iterations: int = 0
    extra: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ BG/NBD
def _bgnbd_nll(log_params, x, t_x, T, w):
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    A1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    A2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    A3 = -(r + x) * np.log(alpha + T)
    A4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    A4 = np.where(repeat, A4, -np.inf)
    top = np.maximum(A3, A4)
    ll = A1 + A2 + top + np.log(np.exp(A3 - top) + np.exp(A4 - top))
    w3 = np.exp(A3 - top - np.log(np.exp(A3 - top) + np.exp(A4 - top)))  # share of the "still alive" term
    w4 = 1.0 - w3
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    d_alpha = r / alpha - w3 * (r + x) / (alpha + T) - w4 * (r + x) / (alpha + t_x)
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x) - w4 / (b + np.maximum(x, 1) - 1)
    total = w.sum()
    grad = np.array([(w * d).sum() for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return -(w * ll).sum() / total, -grad / total


def fit_bgnbd(frequency, recency, tenure, weights=None) -> Fit:
    """BG/NBD maximum likelihood on (frequency, recency, tenure[, weight]) rows; r, alpha (in the unit of
    the times given), a, b."""
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(tenure, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    names = ("r", "alpha", "a", "b")
    if x.size == 0 or w.sum() <= 0 or T.max() <= 0:
        return Fit(dict.fromkeys(names, np.nan), False, "no customers with a positive tenure", np.nan)
    if not (x > 0).any():
        return Fit(dict.fromkeys(names, np.nan), False, "no repeat purchases: BG/NBD is not identified", np.nan)
    scale = 1.0 / T.max()
    args = (x, t_x * scale, T * scale, w)
    result = _minimize(_bgnbd_nll, 4, args)
    r, alpha, a, b = np.exp(result.x)
    fit = _finish(result, dict(zip(names, (r, alpha / scale, a, b))))
    return fit


def bgnbd_expected_purchases(params: dict[str, float], t, x, t_x, T):
    """E[repeat purchases in (T, T + t] | x, t_x, T]: lifetimes' conditional_expected_number_of_purchases_up_to_time."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    t, x, t_x, T = (np.asarray(v, dtype=float) for v in (t, x, t_x, T))
    _a, _b, _c = r + x, b + x, a + b + x - 1
    z = t / (alpha + T + t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ln_hyp = np.log(hyp2f1(_a, _b, _c, z))
        # where the series overflows, Euler's transformation gives the same value
        alt = np.log(hyp2f1(_c - _a, _c - _b, _c, z)) + (_c - _a - _b) * np.log1p(-z)
        ln_hyp = np.where(np.isinf(ln_hyp), alt, ln_hyp)
        first = (a + b + x - 1) / (a - 1)
        second = 1 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + t + T)))
        denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        expected = first * second / denominator
    return np.where(t > 0, expected, 0.0)


def bgnbd_p_alive(params: dict[str, float], x, t_x, T):
    """P(alive at T | x, t_x, T); 1 for a customer without repeat purchases (BG/NBD: dropout follows a purchase)."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    log_div = (r + x) * np.log((alpha + T) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x == 0, 1.0, expit(-log_div))


# ------------------------------------------------------------------------------------------ Gamma-Gamma
def _gg_nll(log_params, x, m, w):
    p, q, v = np.exp(log_params)
    px = p * x
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + v)
    )
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - np.log(x * m + v))
    d_q = digamma(px + q) - digamma(q) + np.log(v) - np.log(x * m + v)
    d_v = q / v - (px + q) / (x * m + v)
    total = w.sum()
    grad = np.array([(w * d).sum() for d in (d_p, d_q, d_v)]) * np.array([p, q, v])
    return -(w * ll).sum() / total, -grad / total


def fit_gamma_gamma(frequency, monetary_value, weights=None) -> Fit:
    """Gamma-Gamma maximum likelihood on customers with frequency > 0 and a positive mean value per repeat
    purchase (the caller filters); p, q, v (v in the unit of the values). Unusable when q <= 1: the
    population mean v p / (q - 1) does not exist."""
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    names = ("p", "q", "v")
    keep = (x > 0) & (m > 0)
    x, m, w = x[keep], m[keep], w[keep]
    if x.size < 2:
        return Fit(dict.fromkeys(names, np.nan), False, "fewer than 2 repeat customers with a positive value", np.nan)
    scale = 1.0 / (np.average(m, weights=w))
    result = _minimize(_gg_nll, 3, (x, m * scale, w))
    p, q, v = np.exp(result.x)
    fit = _finish(result, {"p": p, "q": q, "v": v / scale})
    if fit.converged and not q > 1:
        return Fit(fit.params, False, f"q = {q:.4g} <= 1: no finite mean value per purchase", fit.log_likelihood, fit.iterations)
    return fit


def gamma_gamma_expected_value(params: dict[str, float], x, m):
    """E[value per purchase | x, mean value m]: lifetimes' conditional_expected_average_profit; the population
    mean v p / (q - 1) for a customer without repeat purchases."""
    p, q, v = (params[k] for k in ("p", "q", "v"))
    x = np.asarray(x, dtype=float)
    m = np.nan_to_num(np.asarray(m, dtype=float))
    weight = p * x / (p * x + q - 1)
    return (1 - weight) * (v * p / (q - 1)) + weight * m


# ------------------------------------------------------------------------------------------------ helpers
def _minimize(function, size: int, args):
    return minimize(
        function, x0=np.full(size, 0.1), args=args, jac=True, method="L-BFGS-B",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * size, options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )


def _finish(result, params: dict[str, float]) -> Fit:
    at_bound = bool(np.any(np.abs(result.x) >= LOG_BOUND - 1e-6))
    finite = bool(np.all(np.isfinite(result.x))) and bool(np.isfinite(result.fun))
    gradient = float(np.max(np.abs(result.jac))) if finite else np.inf
    # L-BFGS-B's line search can stop "abnormally" at the optimum, when the mean log-likelihood no
    # longer changes in double precision; a vanishing gradient there is convergence all the same
    stationary = gradient < GRADIENT_TOLERANCE
    converged = (bool(result.success) or stationary) and finite and not at_bound
    message = f"{result.message} (max |gradient| {gradient:.1e})"
    if at_bound:
        message = f"a parameter reached its bound (exp(+-{LOG_BOUND:g})): {message}"
    return Fit(params, converged, message, float(-result.fun), int(result.nit))
