"""Deterministic sample-data generator: two years of messy marketing exports for the pipeline.

    python -m pipelines generate --out data/sample --customers 4000 --seed 7

Same arguments -> byte-identical files. Vectorised (numpy/polars) so it also makes benchmark-sized data;
touchpoints are written a month at a time to keep memory bounded.
"""

from __future__ import annotations

import argparse
import shutil
import zlib
from datetime import date
from pathlib import Path

import numpy as np

from pipelines.devtools.generate import export
from pipelines.devtools.generate.calendar import Calendar, fx_rates
from pipelines.devtools.generate.channels import NONE
from pipelines.devtools.generate.costs import simulate_costs
from pipelines.devtools.generate.customers import CRM, simulate_customers
from pipelines.devtools.generate.journeys import simulate_touches
from pipelines.devtools.generate.manifest import write_manifest
from pipelines.devtools.generate.orders import CANCELLED, REFUNDED, simulate_order_times, simulate_order_values
from pipelines.devtools.generate.spend import simulate_spend
from pipelines.devtools.generate.writers import Output
from schemas.inputs import SOURCES

DEFAULT_START = date(2024, 11, 1)
# touches of visitors who never buy, per touch of a buyer: realistic traffic is mostly non-buyers, but the
# committed sample keeps it low to stay small; benchmarks raise it (see add_arguments)
DEFAULT_ANONYMOUS_RATIO = 0.5


def _rng(seed: int, part: str) -> np.random.Generator:
    """An independent stream per part, so changing one part's draws leaves the others' files unchanged."""
    return np.random.default_rng([seed, zlib.crc32(part.encode())])


def generate(
    out_dir: Path,
    customers: int,
    seed: int,
    start: date = DEFAULT_START,
    months: int = 24,
    layouts: str = "native",
    anonymous_ratio: float = DEFAULT_ANONYMOUS_RATIO,
    shop_export: bool = True,
) -> dict:
    """Write the six source folders under out_dir (cleared first) and the manifest; return data rows
    written per source (bad rows and duplicates included). shop_export: the first quarter's orders as
    Shopify's own export (native layouts only); the benchmark leaves it out, as its pandas peer reads
    canonical order files."""
    if layouts not in ("native", "canonical"):
        raise ValueError(f"layouts must be 'native' or 'canonical', not {layouts!r}")
    if customers < 1 or months < 1:
        raise ValueError("customers and months must be positive")
    out_dir = Path(out_dir)
    for source in SOURCES:  # only our own folders: never wipe an arbitrary directory
        shutil.rmtree(out_dir / source, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)

    cal = Calendar(start, months)
    demand = cal.intensity(_rng(seed, "demand"))
    campaign_w = cal.campaign_weights()
    fx = fx_rates(cal, _rng(seed, "fx"))
    cust = simulate_customers(cal, customers, _rng(seed, "customers"), demand, campaign_w)
    orders = simulate_order_times(cal, cust, _rng(seed, "order_times"))
    simulate_order_values(cal, cust, orders, fx["USD"], _rng(seed, "order_values"))
    touches, last_touch = simulate_touches(cal, cust, orders, campaign_w, _rng(seed, "touches"))
    spend = simulate_spend(cal, customers, demand, campaign_w, _rng(seed, "spend"))
    costs = simulate_costs(cal, customers, _rng(seed, "costs"))

    out = Output(out_dir, layouts, shop_export=shop_export)
    export.write_ad_spend(out, cal, spend)
    export.write_costs(out, cal, costs)
    export.write_fx(out, cal, fx)
    export.write_customers(out, cal, cust, _rng(seed, "customers_text"))
    extras = export.order_extras(orders, cust, _rng(seed, "order_extras"))
    utm = export.order_utm(orders, cust, touches, last_touch, _rng(seed, "order_utm"))
    export.write_orders(out, cal, orders, cust, extras, utm)
    del extras, utm
    export.write_touchpoints(out, cal, touches, cust, anonymous_ratio, campaign_w, demand, _rng(seed, "touch_text"))

    truth = {
        "customers": customers,
        "crm_customers": int((cust.kind == CRM).sum()),
        "customers_without_touches": int((cust.channel == NONE).sum()),
        "orders": orders.n,
        "first_orders": int(orders.is_first.sum()),
        "cancelled_orders": int((orders.status == CANCELLED).sum()),
        "refunded_orders": int((orders.status == REFUNDED).sum()),
        "partially_refunded_orders": int(((orders.status != REFUNDED) & ~np.isnan(orders.refunded)).sum()),
        "usd_orders": int(cust.usd[orders.cust].sum()),
        "buyer_touches": touches.n,
        "period": f"{cal.start} .. {cal.end}",
    }
    args = {
        "customers": customers,
        "seed": seed,
        "months": months,
        "start": str(start),
        "layouts": layouts,
        "anonymous_ratio": anonymous_ratio,
    }
    write_manifest(out, args, truth)
    return out.counts()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (its source subfolders are replaced)")
    parser.add_argument("--customers", type=int, required=True, help="customers acquired over the whole period")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="YYYY-MM-DD")
    parser.add_argument(
        "--layouts",
        choices=("native", "canonical"),
        default="native",
        help="native platform layouts and file quirks, or plain canonical CSVs everywhere",
    )
    parser.add_argument(
        "--anonymous-ratio",
        type=float,
        default=DEFAULT_ANONYMOUS_RATIO,
        help="touches of never-buying visitors per buyer touch (benchmarks: ~6)",
    )


def run(args: argparse.Namespace) -> int:
    counts = generate(args.out, args.customers, args.seed, args.start, args.months, args.layouts, args.anonymous_ratio)
    for source, rows in counts.items():
        print(f"{source:12s} {rows:>12,d} rows")
    return 0


def cli_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines generate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
