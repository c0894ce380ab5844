"""Ports for the servers a test starts and must name before they listen: ``incident-bot serve``
subprocesses, each worker's PostgreSQL, the dashboard's server.

A port asked of the OS (bind to port 0, close, hand the number over) can be handed again to
whatever binds to port 0 next, and with several xdist workers that is often another test's fake
Slack: the process then cannot bind, and the probes meant for it reach the other test's server.
So these ports come from below the OS's ephemeral range, which the OS never hands out by itself,
in a block of its own for each xdist worker, in an order of each process's own; a port some other
process already holds (another run on the same machine) is passed over.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

BLOCK = 200  # ports per xdist worker
FIRST = 10_000


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3" on the fourth worker
    return int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; macOS and Windows start at 49152


_start = FIRST + _worker_index() * BLOCK
assert _start + BLOCK <= _ephemeral_start(), f"worker ports {_start}-{_start + BLOCK} reach into the ephemeral range"
_order = itertools.cycle(random.Random(os.getpid()).sample(range(_start, _start + BLOCK), BLOCK))


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now and that no other test of this run, nor a
    server bound to port 0 meanwhile, can be handed before the caller's server binds it."""
    for _ in range(BLOCK):
        port = next(_order)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # held by something else on this machine
            return port
    raise RuntimeError(f"every port of {_start}-{_start + BLOCK - 1} is in use")
