"""Loopback ports for the tests' own servers (Orthanc, the DICOM node, PACS stand-ins, MONAI Label, gloo).

``bind(0)`` hands out a port from the kernel's ephemeral range and frees it again at once. Until
the server binds it, that port can go to another test worker's ``bind(0)`` or become the source
port of any outgoing connection (each poll of Orthanc's REST API makes one), and the server then
fails with "Address already in use". CI saw exactly that. So ports here come from below the
ephemeral range, where the kernel never picks a port by itself, from a block of their own per
pytest-xdist worker, and never twice in one process.
"""

from __future__ import annotations

import itertools
import os
import socket

FIRST_PORT = 20000
PORTS_PER_WORKER = 1500


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw0", "gw1", ...
    return int(worker[2:]) if worker[2:].isdigit() else 0


def _candidates():
    first = FIRST_PORT + _worker_index() * PORTS_PER_WORKER
    last = min(first + PORTS_PER_WORKER, _ephemeral_start())
    if first >= last:
        raise RuntimeError(f"no loopback ports below the ephemeral range ({_ephemeral_start()}) for this worker")
    return iter(range(first, last))


_unused = _candidates()


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port no other process listens on, not handed out before in this process."""
    for port in itertools.islice(_unused, PORTS_PER_WORKER):
        if _bindable(port):
            return port
    raise RuntimeError("this test worker has used up its loopback ports")
