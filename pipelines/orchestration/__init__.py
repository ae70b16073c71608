"""Orchestration: Dagster definitions, assets, resources, partitions, schedules, the warehouse pool, run output."""
