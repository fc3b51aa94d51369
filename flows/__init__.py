"""User-facing Prefect flows: each chains tasks and passes paths, nothing more."""
