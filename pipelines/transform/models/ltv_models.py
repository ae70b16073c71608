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
def _bgnbd_nll(log_params, x, t_x, T, w, xu, inv, wx):
    """Mean negative log-likelihood and its gradient in the log-parameters. Terms that depend on the
    frequency alone (the gamma functions) are evaluated once per distinct frequency `xu` and weighted by
    `wx` (Σ w per distinct frequency; `inv` maps rows to them); only the logs of the times are per row."""
    r, alpha, a, b = np.exp(log_params)
    total = wx.sum()
    repeat = x > 0
    b_x1 = (b + np.maximum(xu, 1) - 1)[inv]
    ll_x = gammaln(r + xu) - gammaln(r) + gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu)
    log_alpha_T, log_alpha_tx = np.log(alpha + T), np.log(alpha + t_x)
    A3 = -(r + x) * log_alpha_T
    A4 = np.where(repeat, np.log(a) - np.log(b_x1) - (r + x) * log_alpha_tx, -np.inf)
    top = np.maximum(A3, A4)
    log_sum = np.log(np.exp(A3 - top) + np.exp(A4 - top))
    ll = (wx * ll_x).sum() + total * r * np.log(alpha) + (w * (top + log_sum)).sum()
    w4 = np.exp(A4 - top - log_sum)  # share of the "dropped out after the last purchase" term
    w3 = 1.0 - w4
    d_r = (
        (wx * (digamma(r + xu) - digamma(r))).sum()
        + total * np.log(alpha)
        - (w * (w3 * log_alpha_T + w4 * log_alpha_tx)).sum()
    )
    d_alpha = total * r / alpha - (w * (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))).sum()
    d_a = (wx * (digamma(a + b) - digamma(a + b + xu))).sum() + (w * w4).sum() / a
    d_b = (wx * (digamma(a + b) + digamma(b + xu) - digamma(b) - digamma(a + b + xu))).sum() - (w * w4 / b_x1).sum()
    grad = np.array([d_r, d_alpha, d_a, d_b]) * np.array([r, alpha, a, b])
    return -ll / total, -grad / total


def _by_frequency(x, w):
    xu, inv = np.unique(x, return_inverse=True)
    return xu, inv, np.bincount(inv, weights=w, minlength=len(xu))


def fit_bgnbd(frequency, recency, tenure, weights=None, start: dict[str, float] | None = None) -> Fit:
    """BG/NBD maximum likelihood on (frequency, recency, tenure[, weight]) rows; r, alpha (in the unit of
    the times given), a, b. `start`: parameters to start from (e.g. the pooled fit's), else lifetimes' start."""
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
    start = _start(start, names, {"alpha": scale})
    args = (x, t_x * scale, T * scale, w, *_by_frequency(x, w))
    result = _minimize(_bgnbd_nll, 4, args, start)
    r, alpha, a, b = np.exp(result.x)
    return _finish(result, dict(zip(names, (r, alpha / scale, a, b), strict=False)))


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
def _gg_nll(log_params, x, m, w, xu, inv, wx, log_m_sums):
    """Mean negative log-likelihood and gradient in the log-parameters; the gamma functions once per
    distinct frequency, Σ w log m and Σ w x log m precomputed (`log_m_sums`)."""
    p, q, v = np.exp(log_params)
    total = wx.sum()
    sum_w_log_m, sum_wx_log_m = log_m_sums
    pxu = p * xu
    log_xm_v = np.log(x * m + v)
    ll = (
        (wx * (gammaln(pxu + q) - gammaln(pxu) - gammaln(q) + q * np.log(v) + pxu * np.log(xu))).sum()
        + p * sum_wx_log_m
        - sum_w_log_m
        - (w * (p * x + q) * log_xm_v).sum()
    )
    d_p = (wx * xu * (digamma(pxu + q) - digamma(pxu) + np.log(xu))).sum() + sum_wx_log_m - (w * x * log_xm_v).sum()
    d_q = (wx * (digamma(pxu + q) - digamma(q) + np.log(v))).sum() - (w * log_xm_v).sum()
    d_v = total * q / v - (w * (p * x + q) / (x * m + v)).sum()
    grad = np.array([d_p, d_q, d_v]) * np.array([p, q, v])
    return -ll / total, -grad / total


def fit_gamma_gamma(frequency, monetary_value, weights=None, start: dict[str, float] | None = None) -> Fit:
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
    m = m * scale
    log_m = np.log(m)
    args = (x, m, w, *_by_frequency(x, w), ((w * log_m).sum(), (w * x * log_m).sum()))
    result = _minimize(_gg_nll, 3, args, _start(start, names, {"v": scale}))
    p, q, v = np.exp(result.x)
    fit = _finish(result, {"p": p, "q": q, "v": v / scale})
    if fit.converged and not q > 1:
        return Fit(
            fit.params,
            False,
            f"q = {q:.4g} <= 1: no finite mean value per purchase",
            fit.log_likelihood,
            fit.iterations,
        )
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
def _start(params: dict[str, float] | None, names, scales: dict[str, float]):
    """Log-parameters to start from: lifetimes' 0.1 each, or given (finite) parameters, scaled as fitted."""
    if not params or not all(np.isfinite(params.get(n, np.nan)) and params[n] > 0 for n in names):
        return None
    logs = np.log([params[n] * scales.get(n, 1.0) for n in names])
    return np.clip(logs, -LOG_BOUND + 1, LOG_BOUND - 1)


def _minimize(function, size: int, args, start=None):
    def run(x0):
        return minimize(
            function,
            x0=x0,
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-LOG_BOUND, LOG_BOUND)] * size,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
        )

    default = np.full(size, 0.1)
    result = run(default if start is None else start)
    # L-BFGS-B's line search can stop "abnormally" short of a stationary point (seen on one CPU and not
    # another for the same data, from a warm start in a flat valley): then the fit starts again from
    # lifetimes' start, and the better of the two ends is kept
    if start is not None and not _stationary(result):
        again = run(default)
        if again.fun <= result.fun or (_stationary(again) and np.isclose(again.fun, result.fun, rtol=1e-9, atol=1e-12)):
            again.nit += result.nit
            result = again
    return result


def _stationary(result) -> bool:
    return bool(result.success) or (
        bool(np.all(np.isfinite(result.jac))) and float(np.max(np.abs(result.jac))) < GRADIENT_TOLERANCE
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
