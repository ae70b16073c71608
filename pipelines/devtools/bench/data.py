"""Generate (once) and cache the benchmark exports of a scale."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from pipelines.devtools.bench.scales import CACHE_DIR, Scale, data_dir, generator_version
from pipelines.devtools.generate.sample import generate
from pipelines.ingest.folders import export_files
from pipelines.ingest.raw_tables import SOURCES

MARKER = "BENCH_COMPLETE.json"


def ensure_data(scale: Scale, seed: int, cache_dir: Path = CACHE_DIR, log=print) -> tuple[Path, dict]:
    """The cached export folder of (scale, seed, generator version), generated if missing.

    A folder counts only once its marker is written, so an interrupted generation is redone."""
    folder = data_dir(scale, seed, cache_dir)
    marker = folder / MARKER
    if marker.exists():
        return folder, json.loads(marker.read_text())

    # older versions of this scale and seed are stale: free their disk
    for stale in cache_dir.glob(f"data-{scale.name}-c{scale.customers}-s{seed}-g*"):
        if stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    log(f"generating {scale.name} data ({scale.customers:,} customers, seed {seed}) into {folder} ...")
    started = time.perf_counter()
    # no Shopify file: the pandas peer reads canonical order files (shop exports are ingest's, tested there)
    counts = generate(
        folder, scale.customers, seed, months=scale.months, anonymous_ratio=scale.anonymous_ratio, shop_export=False
    )
    info = {
        "scale": scale.name,
        "customers": scale.customers,
        "seed": seed,
        "months": scale.months,
        "anonymous_ratio": scale.anonymous_ratio,
        "generator_version": generator_version(),
        "rows": counts,
        "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
        "generate_seconds": round(time.perf_counter() - started, 2),
    }
    marker.write_text(json.dumps(info, indent=1))
    log(f"generated in {info['generate_seconds']:.1f}s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return folder, info


def data_files(raw_dir: Path) -> dict[str, list[Path]]:
    """Export files per source folder, the way ingest finds them."""

    return {source: export_files(raw_dir, source) for source in SOURCES}
