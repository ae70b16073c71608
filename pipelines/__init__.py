"""Acquisition analytics: raw marketing exports -> CAC, LTV, payback and LTV:CAC per channel in DuckDB."""

import sys as _sys
import warnings

# single-run backfill policies and pools are what this project is built on; Dagster labels them beta
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")

# pandera imports pyspark.pandas whenever pyspark is installed (the `spark` extra), which costs ~0.5-1 s
# at every start and prints a FutureWarning about pandas 3 on stderr, also on the DuckDB engine. Nothing
# here uses pandas-on-Spark (the Spark engine uses pyspark.sql only), so pandera is told it is absent.
_sys.modules.setdefault("pyspark.pandas", None)  # type: ignore[arg-type]
