"""Where and when the flows run: Prefect deployments, the local stack, the main command."""
