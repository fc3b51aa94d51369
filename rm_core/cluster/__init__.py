"""Ray clusters: a private local head stopped by PID, authenticated job clients, job logs."""
