"""Ingest: read each export (layout declarations + one engine), cast, validate (Pandera), dedupe, load raw.*, quarantine."""
