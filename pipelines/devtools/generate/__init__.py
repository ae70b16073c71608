"""The deterministic sample generator (`python -m pipelines generate`): see sample.py."""
