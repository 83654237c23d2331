"""Where hosts reach each other: a host's address, the pooler hosts an app
host's DATABASE_URL names and in which order, the peers a PgBouncer names.

libpq tries the hosts of a multi-host URL in order and takes the first that
answers: the order is where an app host's connections go while all poolers
are up, the rest are where they go when one is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LOOPBACK = "127.0.0.1"


def _vars(host: str, hostvars: Mapping[str, Any]) -> Mapping[str, Any]:
    """The host's variables; none for a name the inventory does not hold
    (Ansible's hostvars answers those with an undefined value, not KeyError,
    and the variable naming it is reported by the checks)."""
    return hostvars[host] if host in hostvars else {}


def _address_in(values: Mapping[str, Any], host: str) -> str:
    """The default IPv4 address in a host's variables, else its inventory name."""
    try:
        return str(values["ansible_facts"]["default_ipv4"]["address"])
    except (KeyError, TypeError):
        return host


def address(host: str, hostvars: Mapping[str, Any]) -> str:
    """The host's default IPv4 address from its facts, else its inventory name."""
    return _address_in(_vars(host, hostvars), host)


def _in_order(poolers: Sequence[str], app_host: str, app_hosts: Sequence[str]) -> list[str]:
    """The pooler hosts' inventory names in the order app_host tries them.

    An app host that is a pooler host too (PgBouncer beside the app) goes to
    its own PgBouncer first, then the other poolers. Other app hosts start at
    a pooler of their own in turn (the i-th app host at the i-th pooler,
    round the list), so that each pooler takes a share of the app hosts, and
    go on round the list.
    """
    poolers = list(poolers)
    if app_host in poolers:
        return [app_host] + [pooler for pooler in poolers if pooler != app_host]
    if not poolers:
        return []
    others = [host for host in app_hosts if host not in poolers]
    start = others.index(app_host) % len(poolers) if app_host in others else 0
    return poolers[start:] + poolers[:start]


def poolers_for(
    poolers: Sequence[str], app_host: str, app_hosts: Sequence[str], hostvars: Mapping[str, Any]
) -> list[str]:
    """The addresses of the pooler hosts for app_host's URL (host mode), its
    own PgBouncer, if it has one, over loopback."""
    return [LOOPBACK if pooler == app_host else address(pooler, hostvars)
            for pooler in _in_order(poolers, app_host, app_hosts)]


def pooler_endpoints(
    poolers: Sequence[str],
    app_host: str,
    app_hosts: Sequence[str],
    hostvars: Mapping[str, Any],
    own: Sequence[Any],
    default_port: int,
) -> list[list[Any]]:
    """[host, port] of each pooler host for app_host's URL (Docker mode), in
    poolers_for's order: its own PgBouncer at ``own`` (the service on the
    project network), the others at their address and published
    pgbouncer_listen_port (default_port unless the inventory sets it)."""
    endpoints = []
    for pooler in _in_order(poolers, app_host, app_hosts):
        if pooler == app_host:
            endpoints.append(list(own))
            continue
        values = _vars(pooler, hostvars)  # each lookup computes all of that host's variables
        endpoints.append([_address_in(values, pooler), int(values.get("pgbouncer_listen_port", default_port))])
    return endpoints


def remote_peers(
    peer_hosts: Sequence[str], this_host: str, hostvars: Mapping[str, Any], default_port: int
) -> list[dict[str, Any]]:
    """The [peers] entries for the processes of the other peer hosts.

    Every process of the host at place i of peer_hosts (the same list on
    each host) has peer_id 100 x i + its number (1..pgbouncer_processes); all
    of a host's processes are reached at its address and
    pgbouncer_listen_port (default_port unless the inventory sets it), where
    whichever process takes a cancel forwards it on to its own peers.
    """
    peers = []
    for place, peer in enumerate(peer_hosts):
        if peer == this_host:
            continue
        values = _vars(peer, hostvars)  # each lookup computes all of that host's variables
        host, port = _address_in(values, peer), int(values.get("pgbouncer_listen_port", default_port))
        for process in range(1, int(values.get("pgbouncer_processes", 1)) + 1):
            peers.append({"id": 100 * place + process, "host": host, "port": port})
    return peers


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {
            "address": address,
            "poolers_for": poolers_for,
            "pooler_endpoints": pooler_endpoints,
            "remote_peers": remote_peers,
        }
