"""How many server connections PgBouncer and the app may open to PostgreSQL.

PostgreSQL refuses a connection past max_connections. In the worst case the
poolers hold every server connection they may open (idle ones live until
server_idle_timeout) while the app, bypassed by playbooks/rollback.yml, opens
its own straight to PostgreSQL: the deploy checks that both fit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# How a client on PostgreSQL's own host may name it.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def pooler_connections(
    databases: Iterable[Mapping[str, Any]],
    client: str,
    default_host: str,
    users: int,
    default_pool_size: int,
    reserve_pool_size: int,
    max_db_connections: int = 0,
) -> list[dict[str, Any]]:
    """The most server connections a pooler may hold, per entry of pgbouncer_databases.

    One pool per user and database, of the entry's pool_size (else
    default_pool_size) plus reserve_pool_size, capped per database by
    max_db_connections when that is positive. Each row names the pooler
    (client), the PostgreSQL host (the entry's host, else default_host) and
    the connections.
    """
    rows = []
    for database in databases:
        pool = int(database.get("pool_size", default_pool_size)) + int(reserve_pool_size)
        connections = pool * int(users)
        if int(max_db_connections) > 0:
            connections = min(connections, int(max_db_connections))
        rows.append({"client": client, "host": str(database.get("host", default_host)), "connections": connections})
    return rows


def connections_to(
    clients: Iterable[Mapping[str, Any]], server: str, addresses: Iterable[str]
) -> list[Mapping[str, Any]]:
    """The clients whose host names this server: by inventory name or address, or locally."""
    names = {server, *addresses}
    return [
        row
        for row in clients
        if row["host"] in names or (row["client"] == server and row["host"] in LOCAL_NAMES)
    ]


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {"pooler_connections": pooler_connections, "connections_to": connections_to}
