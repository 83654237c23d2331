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


def per_process(total: int | str, processes: int | str = 1) -> int:
    """One PgBouncer process's share of a total the user set for the whole pooler host.

    The total divided by the number of processes, rounded up, at least 1; 0
    stays 0 (a reserve pool of 0, or max_db_connections 0, which is
    unlimited). With one process it is the total itself. Rounding up means the
    processes together may hold a little more than the total (N x share), and
    that is what the connection budget counts.
    """
    total, processes = int(total), int(processes)
    if processes < 1:
        raise ValueError(f"processes must be 1 or more, got {processes}")
    if total <= 0:
        return total
    return max(-(-total // processes), 1)


def pooler_connections(
    databases: Iterable[Mapping[str, Any]],
    client: str,
    default_host: str,
    users: int,
    default_pool_size: int,
    reserve_pool_size: int,
    max_db_connections: int = 0,
    processes: int = 1,
) -> list[dict[str, Any]]:
    """The most server connections a pooler may hold, per entry of pgbouncer_databases.

    One pool per user and database, of the entry's pool_size (else
    default_pool_size) plus reserve_pool_size, capped per database by
    max_db_connections when that is positive. With several PgBouncer
    processes (pgbouncer_processes), each process has its own pools of those
    sizes divided by the number of processes (per_process, rounded up), and
    the pooler may hold processes times one process's connections. Each row
    names the pooler (client), the PostgreSQL host (the entry's host, else
    default_host) and the connections.
    """
    rows = []
    for database in databases:
        pool = per_process(database.get("pool_size", default_pool_size), processes) + per_process(
            reserve_pool_size, processes
        )
        connections = pool * int(users)
        if int(max_db_connections) > 0:
            connections = min(connections, per_process(max_db_connections, processes))
        rows.append(
            {
                "client": client,
                "host": str(database.get("host", default_host)),
                "connections": connections * int(processes),
            }
        )
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
        return {
            "pooler_connections": pooler_connections,
            "connections_to": connections_to,
            "per_process": per_process,
        }
