"""Prefect tasks: thin wrappers that add retries, caching, logging and artifacts to rm_core."""
