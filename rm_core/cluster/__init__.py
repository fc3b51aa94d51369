"""Ray clusters: a private local head stopped by PID and authenticated job clients."""
