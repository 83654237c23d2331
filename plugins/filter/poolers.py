"""Which pooler hosts an app host's DATABASE_URL names, in which order.

libpq tries the hosts of a multi-host URL in order and takes the first that
answers: the order is where an app host's connections go while all poolers
are up, the rest are where they go when one is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LOOPBACK = "127.0.0.1"


def address(host: str, hostvars: Mapping[str, Any]) -> str:
    """The host's default IPv4 address from its facts, else its inventory name."""
    try:
        return str(hostvars[host]["ansible_facts"]["default_ipv4"]["address"])
    except (KeyError, TypeError):
        return host


def poolers_for(
    poolers: Sequence[str], app_host: str, app_hosts: Sequence[str], hostvars: Mapping[str, Any]
) -> list[str]:
    """The addresses of the pooler hosts for app_host's URL, the first one its own.

    An app host that is a pooler host too (PgBouncer beside the app) goes to
    its own PgBouncer over loopback, then the other poolers. Other app hosts
    start at a pooler of their own in turn (the i-th app host at the i-th
    pooler, round the list), so that each pooler takes a share of the app
    hosts, and go on round the list.
    """
    poolers = list(poolers)
    if app_host in poolers:
        return [LOOPBACK] + [address(pooler, hostvars) for pooler in poolers if pooler != app_host]
    if not poolers:
        return []
    others = [host for host in app_hosts if host not in poolers]
    start = others.index(app_host) % len(poolers) if app_host in others else 0
    return [address(pooler, hostvars) for pooler in poolers[start:] + poolers[:start]]


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {"poolers_for": poolers_for}
