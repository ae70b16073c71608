"""Publish: the private build file, blocking checks, the atomic swap and rollback, the tables' documentation."""
