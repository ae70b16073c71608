"""The marketing-mix model's mathematics (docs/metrics.md "Incremental CAC"), numpy and scipy only.

Weekly new customers y_t ~ NegativeBinomial(mean mu_t, dispersion phi), with

    mu_t = exp(a0 + a1 * years_t + sum_k (g_k sin(k w_t) + h_k cos(k w_t)))      baseline: trend + yearly season
         + sum_c beta_c * tanh(lambda_c * adstock_c(spend_c / scale_c)_t / 2)    paid channels

adstock_c is geometric (weights alpha_c^l / sum_l alpha_c^l over L_MAX weeks: a week's spend keeps
acting, fading, for a few weeks, and the weights sum to 1 so a steady spend x has adstock x);
tanh(z / 2) = (1 - e^-z) / (1 + e^-z) is the logistic saturation (PyMC-Marketing's LogisticSaturation);
scale_c is the channel's largest weekly spend, so lambda_c is unit-free. beta_c >= 0 is the channel's
ceiling in new customers per week: a paid channel cannot take customers away.

The fit is a maximum a posteriori estimate (L-BFGS-B with the analytic gradient) under weak priors
that only keep unidentified parameters finite (a channel with no effect leaves its alpha and lambda to
the prior); four fixed starting points, the best kept. Intervals come from a parametric bootstrap:
`BOOTSTRAP` data sets drawn from the fitted model with a fixed seed, each refitted from the estimate;
the 5 % and 95 % quantiles of any derived number over the refits are its 90 % interval. (A Laplace
approximation, a normal around the estimate with the inverse Hessian as covariance, costs one fit
instead of 200 but was measured far too wide here: the ceiling beta and the steepness lambda trade off
along a curved ridge that no normal follows; see README "Incremental CAC".) Everything is
deterministic: the same inputs give the same numbers to the last bit on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln
from threadpoolctl import threadpool_limits

L_MAX = 8  # weeks a week's spend can act for (its adstock's length)
SEASON_ORDER = 2  # yearly Fourier terms
BOOTSTRAP = 200  # refits behind each interval
REFIT_FTOL = 1e-8  # a refit stops 100x sooner than the fit: its error is far below the bootstrap's spread
SEED = 30  # of the bootstrap's draws: re-runs give identical intervals
QUANTILES = (0.05, 0.95)  # a 90 % interval
ALPHA_MAX = 0.9
LAMBDA_RANGE = (0.05, 10.0)
LOG_PHI_RANGE = (-3.0, 12.0)
_STARTS = ((0.1, 0.5), (0.1, 3.0), (0.5, 0.5), (0.5, 3.0))  # (alpha, lambda) of every channel


@dataclass(frozen=True)
class Series:
    """The weekly data of one fit: new customers (T) and spend per paid channel (C x T)."""

    y: np.ndarray
    spend: np.ndarray
    day_of_year: np.ndarray  # of each week's first day: the season's phase

    @property
    def weeks(self) -> int:
        return len(self.y)

    @property
    def channels(self) -> int:
        return self.spend.shape[0]

    def head(self, weeks: int) -> Series:
        return Series(self.y[:weeks], self.spend[:, :weeks], self.day_of_year[:weeks])


@dataclass(frozen=True)
class Fit:
    params: np.ndarray
    converged: bool
    log_likelihood: float
    message: str


class Model:
    """One data set's design (baseline features, lagged scaled spend) and its objective."""

    def __init__(self, series: Series, scale: np.ndarray | None = None):
        self.series = series
        y, spend = series.y.astype(float), series.spend.astype(float)
        self.y = y
        weeks, channels = len(y), spend.shape[0]
        self.scale = scale if scale is not None else np.where(spend.max(axis=1) > 0, spend.max(axis=1), 1.0)
        years = (np.arange(weeks) - (weeks - 1) / 2) / 52.0
        phase = 2 * np.pi * series.day_of_year / 365.25
        season = [f(k * phase) for k in range(1, SEASON_ORDER + 1) for f in (np.sin, np.cos)]
        self.Z = np.column_stack([np.ones(weeks), years, *season])
        self.n_base = self.Z.shape[1]
        scaled = spend / self.scale[:, None]
        # lagged[c, l, t] = scaled spend of channel c in week t - l (0 before the window)
        self.lagged = np.zeros((channels, L_MAX, weeks))
        for lag in range(L_MAX):
            self.lagged[:, lag, lag:] = scaled[:, : weeks - lag]
        self.C = channels
        self.lags = np.arange(L_MAX, dtype=float)

    # parameter vector: baseline (n_base), log phi, beta (C), alpha (C), lambda (C)
    def unpack(self, p: np.ndarray):
        nb, c = self.n_base, self.C
        return p[:nb], p[nb], p[nb + 1 : nb + 1 + c], p[nb + 1 + c : nb + 1 + 2 * c], p[nb + 1 + 2 * c :]

    def bounds(self) -> list[tuple[float | None, float | None]]:
        ceiling = 5.0 * max(float(self.y.max()), 1.0)
        return (
            [(None, None)] * self.n_base
            + [LOG_PHI_RANGE]
            + [(0.0, ceiling)] * self.C
            + [(0.0, ALPHA_MAX)] * self.C
            + [LAMBDA_RANGE] * self.C
        )

    def weights(self, alpha: np.ndarray):
        """Adstock weights (C x L) and their derivative in alpha."""
        powers = alpha[:, None] ** self.lags  # alpha^l, with 0^0 = 1
        total = powers.sum(axis=1, keepdims=True)
        d_powers = np.where(self.lags > 0, self.lags * alpha[:, None] ** np.maximum(self.lags - 1, 0), 0.0)
        d_total = d_powers.sum(axis=1, keepdims=True)
        return powers / total, (d_powers * total - powers * d_total) / total**2

    def parts(self, p: np.ndarray):
        a, log_phi, beta, alpha, lam = self.unpack(p)
        baseline = np.exp(self.Z @ a)
        w, dw = self.weights(alpha)
        u = np.einsum("cl,clt->ct", w, self.lagged)
        s = np.tanh(lam[:, None] * u / 2)
        contribution = beta[:, None] * s
        return baseline, contribution, u, s, w, dw, log_phi, beta, alpha, lam

    def mean(self, p: np.ndarray) -> np.ndarray:
        baseline, contribution, *_ = self.parts(p)
        return baseline + contribution.sum(axis=0)

    def log_likelihood(self, p: np.ndarray) -> float:
        mu = self.mean(p)
        phi = np.exp(self.unpack(p)[1])
        y = self.y
        return float(
            np.sum(
                gammaln(y + phi)
                - gammaln(phi)
                - gammaln(y + 1)
                + phi * np.log(phi / (phi + mu))
                + y * np.log(mu / (phi + mu))
            )
        )

    def objective(self, p: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log posterior and its gradient."""
        baseline, contribution, u, s, w, dw, log_phi, beta, alpha, lam = self.parts(p)
        y, phi = self.y, np.exp(log_phi)
        mu = baseline + contribution.sum(axis=0)
        ll = np.sum(
            gammaln(y + phi)
            - gammaln(phi)
            - gammaln(y + 1)
            + phi * np.log(phi / (phi + mu))
            + y * np.log(mu / (phi + mu))
        )
        g = y / mu - (y + phi) / (phi + mu)  # d ll / d mu
        sech2 = 1 - s**2
        grad_a = self.Z.T @ (g * baseline)
        grad_phi = phi * np.sum(digamma(y + phi) - digamma(phi) + np.log(phi / (phi + mu)) + 1 - (phi + y) / (phi + mu))
        grad_beta = s @ g
        grad_lam = (beta[:, None] * u / 2 * sech2) @ g
        du = np.einsum("cl,clt->ct", dw, self.lagged)
        grad_alpha = (beta[:, None] * lam[:, None] / 2 * sech2 * du) @ g
        # weak priors: trend ~ N(0, 1) per year, season ~ N(0, 0.5), log phi ~ N(3, 3), alpha ~ Beta(1, 3),
        # lambda ~ Gamma(3, 1) (PyMC-Marketing's), beta ~ Exponential(mean = the mean weekly new customers):
        # a channel the data cannot tell from the baseline is given no customers rather than the baseline's
        a = self.unpack(p)[0]
        rate = 1 / max(self.y.mean(), 1.0)
        prior = a[1] ** 2 / 2 + np.sum(a[2:] ** 2) / (2 * 0.25) + (log_phi - 3) ** 2 / 18
        prior += -2 * np.sum(np.log1p(-alpha)) + np.sum(lam - 2 * np.log(lam)) + rate * np.sum(beta)
        d_prior_a = np.concatenate([[0.0, a[1]], a[2:] / 0.25])
        d_prior_phi = (log_phi - 3) / 9
        d_prior_alpha = 2 / (1 - alpha)
        d_prior_lam = 1 - 2 / lam
        grad = -np.concatenate([grad_a, [grad_phi], grad_beta, grad_alpha, grad_lam])
        grad += np.concatenate([d_prior_a, [d_prior_phi], np.full(self.C, rate), d_prior_alpha, d_prior_lam])
        return float(-ll + prior), grad

    def start(self, alpha: float, lam: float) -> np.ndarray:
        a = np.zeros(self.n_base)
        a[0] = np.log(max(self.y.mean() * 0.7, 0.5))
        beta = np.full(self.C, max(self.y.mean(), 1.0) * 0.3 / max(self.C, 1))
        return np.concatenate([a, [3.0], beta, np.full(self.C, alpha), np.full(self.C, lam)])

    def fit(self, start: np.ndarray | None = None, ftol: float = 1e-10) -> Fit:
        """The MAP estimate: from `start` alone, else the best of the fixed starting points."""
        starts = [start] if start is not None else [self.start(a, lam) for a, lam in _STARTS]
        best = None
        for x0 in starts:
            result = minimize(
                self.objective,
                x0,
                jac=True,
                method="L-BFGS-B",
                bounds=self.bounds(),
                options={"maxiter": 2000, "maxfun": 5000, "ftol": ftol, "gtol": 1e-6},
            )
            if best is None or result.fun < best.fun:
                best = result
        return Fit(best.x, bool(best.success), self.log_likelihood(best.x), str(best.message))


@dataclass(frozen=True)
class Result:
    """A fit and its bootstrap refits (one row per refit)."""

    model: Model
    fit: Fit
    replicates: np.ndarray  # refits x parameters


def fit_with_intervals(series: Series, draws: int = BOOTSTRAP, seed: int = SEED) -> Result:
    """The MAP fit and a parametric bootstrap of it: `draws` data sets drawn from the fitted model
    (negative binomial, a fixed seed), each refitted from the estimate. One BLAS thread: OpenBLAS's
    threads cost ~10x in fits this small on a busy 2-core machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        model = Model(series)
        fit = model.fit()
        mu = model.mean(fit.params)
        phi = float(np.exp(model.unpack(fit.params)[1]))
        rng = np.random.default_rng(seed)
        # negative binomial draws as a gamma-Poisson mixture, all drawn up front (a fixed order)
        simulated = rng.poisson(rng.gamma(shape=phi, scale=mu / phi, size=(draws, len(mu))))
        replicates = np.empty((draws, len(fit.params)))
        for i in range(draws):
            refit = Model(Series(simulated[i], series.spend, series.day_of_year), scale=model.scale).fit(
                fit.params, REFIT_FTOL
            )
            replicates[i] = refit.params
    return Result(model, fit, replicates)


# ------------------------------------------------------------------------------------- derived numbers
def contributions(model: Model, params: np.ndarray) -> np.ndarray:
    """New customers each channel caused over the window (C), for one parameter vector."""
    return model.parts(params)[1].sum(axis=1)


def response(model: Model, params: np.ndarray, weekly_spend: np.ndarray) -> np.ndarray:
    """Steady-state new customers per week caused by a constant weekly spend (C x points): with the
    adstock's weights summing to 1, a spend held at x has adstock x."""
    _, _, beta, _, lam = model.unpack(params)
    return beta[:, None] * np.tanh(lam[:, None] * weekly_spend / model.scale[:, None] / 2)


def slope(model: Model, params: np.ndarray, weekly_spend: np.ndarray) -> np.ndarray:
    """d(new customers per week) / d(spend per week) at a steady weekly spend (C x points)."""
    _, _, beta, _, lam = model.unpack(params)
    z = np.tanh(lam[:, None] * weekly_spend / model.scale[:, None] / 2)
    return beta[:, None] * lam[:, None] / (2 * model.scale[:, None]) * (1 - z**2)


def interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 90 % interval of each column of `values` (replicates x ...)."""
    low, high = np.quantile(values, QUANTILES, axis=0, method="linear")
    return low, high
