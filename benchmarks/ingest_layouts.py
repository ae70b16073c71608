"""Ingest speed per row of the shop and CRM order layouts against the canonical orders CSV (issue 28).

    .venv/bin/python benchmarks/ingest_layouts.py [ORDERS]   # default 200 000 orders per file

Each file holds the same number of orders, written from the fixtures' rows (tests/fixtures/exports/
make_shop_fixtures.py: the real headers) with fresh ids; what is timed is what ingest does to a file
before its insert: `read_export` (detect, decode, map, group line items) and `split_rows` (cast and
validate). CPU time of the process (all of polars' threads), best of five rounds after a warm-up:
on a machine shared with other work, wall time swings by 2x between rounds, CPU time far less.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "exports"))

from make_shop_fixtures import (  # noqa: E402
    AMOCRM_LEADS,
    AMOCRM_ROWS,
    BITRIX24_DEALS,
    BITRIX24_ROWS,
    SHOPIFY_ORDERS,
    SHOPIFY_ROWS,
    table,
)

from pipelines.ingest.readers import read_export  # noqa: E402
from pipelines.ingest.validate import split_rows  # noqa: E402

CANONICAL = ["order_id", "customer_id", "email", "phone", "visitor_id", "created_at", "status", "revenue",
             "cost_of_goods", "refunded_amount", "refunded_at", "currency", "utm_source", "utm_medium",
             "utm_campaign", "utm_content", "utm_term"]  # fmt: skip
CANONICAL_ROW = {"customer_id": "C1", "email": "anna@shop.example", "phone": "+7 999 111-22-33",
                 "visitor_id": "v1", "created_at": "2024-03-05 12:00:00", "status": "paid", "revenue": "1200.00",
                 "cost_of_goods": "600.00", "currency": "RUB", "utm_source": "google", "utm_medium": "cpc",
                 "utm_campaign": "spring"}  # fmt: skip


def files(folder: Path, orders: int) -> dict[str, tuple[Path, int]]:
    """name -> (file, data rows) with `orders` orders each."""
    out = {}

    def write(name: str, header: list[str], rows: list[dict], delimiter: str = ",") -> None:
        path = folder / f"{name}.csv"
        path.write_text(table(header, rows, delimiter), encoding="utf-8")
        out[name] = (path, len(rows))

    write("canonical", CANONICAL, [CANONICAL_ROW | {"order_id": f"o{i}"} for i in range(orders)])
    # Shopify: the fixture's 6 orders in 9 line-item rows, renamed per copy (1.5 rows per order)
    shop, copies = [], orders // 6
    for c in range(copies):
        shop += [row | {"Name": f"{row['Name']}-{c}"} for row in SHOPIFY_ROWS]
    write("shopify_orders", SHOPIFY_ORDERS, shop)
    write(
        "amocrm_leads",
        AMOCRM_LEADS,
        [AMOCRM_ROWS[i % len(AMOCRM_ROWS)] | {"ID": str(i)} for i in range(orders)],
        ";",
    )
    write("bitrix24_deals", BITRIX24_DEALS, [BITRIX24_ROWS[i % 4] | {"ID": str(i)} for i in range(orders)])
    return out


def timed(path: Path) -> float:
    start = time.process_time()
    read = read_export(path, "orders", {"reporting_timezone": "Europe/Moscow", "won_stages": ["Оплачено"]})
    split_rows("orders", read, zone="Europe/Moscow")
    return time.process_time() - start


def main() -> None:
    orders = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        made = files(Path(tmp), orders)
        for path, _ in made.values():
            timed(path)  # warm-up: imports, caches
        best = {name: min(timed(path) for _ in range(5)) for name, (path, _) in made.items()}
        base = best["canonical"] / made["canonical"][1]
        print(f"{'layout':16} {'rows':>9} {'columns':>8} {'CPU s':>8} {'µs/row':>7} {'× canonical':>12}")
        for name, (path, rows) in made.items():
            columns = path.read_text(encoding="utf-8").split("\n", 1)[0].count("," if name != "amocrm_leads" else ";")
            per_row = best[name] / rows
            print(f"{name:16} {rows:9} {columns + 1:8} {best[name]:8.2f} {per_row * 1e6:7.2f} {per_row / base:12.2f}")


if __name__ == "__main__":
    main()
