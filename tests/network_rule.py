"""The suite's network rule, enforced in its own process: traffic goes only to loopback and to the
test host's veth pair (tests/host/host.sh), never to any other address, private or public.

An audit hook (PEP 578) sees every ``connect``, ``sendto`` and name lookup Python makes, before
the system call, and refuses the rest with an error naming the address, so a test that would
reach out fails where it tries instead of sending anything. Subprocesses (ssh, pyinfra, curl)
are outside a hook's reach; ``bash scripts/dev.sh test``, as root, runs the whole suite in a
network namespace of its own that has only loopback, and the host's veth pair once it is up.
Whatever the tests read from outside (the public SQL corpora, the host's root filesystems) is
fetched before them.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

TEST_HOST_NETWORK = ipaddress.ip_network("10.231.77.0/24")
"""ADDR_ROOT and ADDR_HOST of tests/host/host.sh (tests/test_network_rule.py checks they lie in it)."""
ALLOWED = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"), TEST_HOST_NETWORK)
_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_INET = (socket.AF_INET, socket.AF_INET6)
_LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr")
_installed = False


class NetworkRuleBroken(ConnectionRefusedError):
    """A test tried to reach an address outside loopback and the test host's veth pair."""


def allowed(host: str | bytes | None) -> bool:
    """Whether traffic to ``host`` (an address or a name) stays on this machine or the test host's pair."""
    if host is None or host == "" or host == b"":
        return True  # a wildcard: what bind and getaddrinfo(None, port) mean, never a destination
    name = host.decode() if isinstance(host, bytes) else host
    name = name.split("%", 1)[0].strip("[]")
    if name.lower() in _NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # any other name: looking it up already asks a resolver out there
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in ALLOWED)


def _refuse(what: str, host: object) -> None:
    raise NetworkRuleBroken(
        f"network rule: a test tried to {what} {host!r}; tests may reach only loopback and the test host "
        f"({TEST_HOST_NETWORK}). Run a local server for it (tests/fakes.py), or fetch the data before the "
        "tests (tests/corpus/fetch.py)."
    )


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[-1]
        if sock.family in _INET and isinstance(address, tuple) and not allowed(address[0]):
            _refuse("connect to" if event == "socket.connect" else "send to", address[0])
    elif event in _LOOKUPS and not allowed(args[0]):
        _refuse("look up", args[0])


def install() -> None:
    """Once per process: audit hooks cannot be removed, and one is enough."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
