"""Benchmark scales and where their generated data is cached.

Sizes are reached through the project's own generator (pipelines.devtools.generate.sample). At the committed sample's
settings the generator makes ~1.86 orders per acquired customer and ~3.2 buyer touches per customer;
touches of never-buying visitors are added at `anonymous_ratio` per buyer touch. With 4.85 the mix is
~10 touchpoints per order, so `customers` sets the size:

    customers      orders     touchpoints     (measured: 53 000 customers -> 98.6 k orders, 982 k touches)
       54 000     ~100 k         ~1 M          small
      540 000       ~1 M        ~10 M          medium
    5 400 000      ~10 M       ~100 M          large

Ad spend, costs and FX rows do not grow with customers (one row per campaign-day), as in real life.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.paths import PROJECT_ROOT

BENCH_ROOT = PROJECT_ROOT / "benchmarks"
CACHE_DIR = BENCH_ROOT / "cache"
RESULTS_DIR = BENCH_ROOT / "results"
ANONYMOUS_RATIO = 4.85  # ~10 touchpoints per order
MONTHS = 24


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    anonymous_ratio: float = ANONYMOUS_RATIO
    months: int = MONTHS
    peer: bool = True  # run the pandas peer (small and medium only)


SCALES = {
    "toy": Scale("toy", 600, peer=True),  # a few thousand rows: the test suite's smoke scale
    "small": Scale("small", 54_000),
    "medium": Scale("medium", 540_000),
    "large": Scale("large", 5_400_000, peer=False),
}


def generator_version() -> str:
    """A digest of the generator's source: cached data is regenerated when the generator changes."""
    digest = hashlib.sha256()
    folder = Path(__file__).resolve().parents[1] / "generate"  # pipelines/devtools/generate
    sources = sorted(folder.glob("*.py"))
    if not sources:  # a moved generator must not leave every cache keyed by the digest of nothing
        raise FileNotFoundError(f"no generator source in {folder}")
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]  # the writers of every layout live there too (layout_writers.py)


def data_dir(scale: Scale, seed: int, cache_dir: Path = CACHE_DIR) -> Path:
    return cache_dir / f"data-{scale.name}-c{scale.customers}-s{seed}-g{generator_version()}"
