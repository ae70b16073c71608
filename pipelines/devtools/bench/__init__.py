"""The benchmark (`python -m pipelines bench`): see main.py."""
