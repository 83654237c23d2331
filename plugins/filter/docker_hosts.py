"""How a Docker host's services are published and named, for the postgres
and pgbouncer roles alike: the addresses Docker publishes a port on, and the
names a certificate for a published service must hold."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def publish_addresses(addresses: Iterable[str]) -> list[str]:
    """The addresses of a listen setting (postgres_listen_addresses, the items
    of pgbouncer_listen_addr) as a Compose port's host address: localhost is
    127.0.0.1, * is 0.0.0.0 (all IPv4 addresses, as Docker publishes), an
    IPv6 address is in brackets. In order, each once."""
    published: list[str] = []
    for raw in addresses:
        item = str(raw).strip()
        if not item:
            continue
        item = {"localhost": "127.0.0.1", "*": "0.0.0.0"}.get(item, item)  # noqa: S104 - Docker's "all"
        if ":" in item:
            item = f"[{item.strip('[]')}]"
        if item not in published:
            published.append(item)
    return published


def host_names(inventory_hostname: str, facts: Mapping[str, Any] | None) -> list[str]:
    """The names other hosts may reach this host by: its inventory name, host
    name, FQDN and default IPv4 address, those its facts know. In order, each once."""
    facts = facts or {}
    default_ipv4 = facts.get("default_ipv4") or {}
    names: list[str] = []
    for name in (inventory_hostname, facts.get("hostname"), facts.get("fqdn"), default_ipv4.get("address")):
        if name and str(name) not in names:
            names.append(str(name))
    return names


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {"publish_addresses": publish_addresses, "host_names": host_names}
