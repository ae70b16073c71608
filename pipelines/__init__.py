"""Acquisition analytics: raw marketing exports -> CAC, LTV, payback and LTV:CAC per channel in DuckDB."""

import warnings

# single-run backfill policies and pools are what this project is built on; Dagster labels them beta
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")
