"""What every stage shares: paths, settings, DuckDB helpers, calendar periods, personal-data hashing, table comments, test fault points."""
