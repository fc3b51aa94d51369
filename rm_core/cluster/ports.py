"""Ports for a private Ray head: one free port per `ray start` option and a worker range."""

from __future__ import annotations

import random
import socket

from rm_core.errors import RayUnavailable

PORT_OPTIONS = (
    "port",  # GCS
    "dashboard-port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "metrics-export-port",
    "runtime-env-agent-port",
)


def _port_free(port: int) -> bool:
    """Bindable on all interfaces: Ray binds its core ports on 0.0.0.0 / ::."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
    return True


def free_ports(count: int, avoid: frozenset[int] | set[int] = frozenset()) -> list[int]:
    """Distinct ports the kernel considers free right now, none in `avoid` (a race
    remains: see `LocalRayCluster.start`)."""
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            ports.add(port)
    return sorted(ports)


def free_port_range(size: int, avoid: set[int], low: int = 12000, high: int = 32000) -> int:
    """First port of `size` consecutive free ports below the kernel's ephemeral range.

    Worker ports must be a range; staying under 32768 keeps outgoing connections
    (which get ephemeral ports) from grabbing them later.
    """
    for _ in range(200):
        base = random.randrange(low, high - size)
        span = range(base, base + size)
        if not avoid.intersection(span) and all(_port_free(p) for p in span):
            return base
    raise RayUnavailable(f"no {size} consecutive free ports between {low} and {high}")
