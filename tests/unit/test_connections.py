"""The connection budget: what poolers and app hosts may open, and to which PostgreSQL."""

from __future__ import annotations

from plugins.filter.connections import FilterModule, connections_to, pooler_connections


def test_one_pool_per_user_and_database_with_its_reserve() -> None:
    rows = pooler_connections(
        [{"name": "app"}, {"name": "reports", "pool_size": 5, "host": "10.0.0.9"}],
        client="pool1", default_host="10.0.0.2", users=2, default_pool_size=20, reserve_pool_size=3,
    )
    assert rows == [
        {"client": "pool1", "host": "10.0.0.2", "connections": (20 + 3) * 2},
        {"client": "pool1", "host": "10.0.0.9", "connections": (5 + 3) * 2},
    ]


def test_max_db_connections_caps_each_database() -> None:
    rows = pooler_connections(
        [{"name": "app"}, {"name": "small", "pool_size": 1}],
        client="pool1", default_host="db1", users=3, default_pool_size=20, reserve_pool_size=5,
        max_db_connections=30,
    )
    assert [row["connections"] for row in rows] == [30, (1 + 5) * 3]


def test_values_from_templates_may_be_strings() -> None:
    rows = pooler_connections([{"name": "app", "pool_size": "7"}], "p", "db", "1", "20", "0", "0")
    assert rows[0]["connections"] == 7


def test_clients_are_matched_by_name_address_or_locally() -> None:
    clients = [
        {"client": "pool1", "host": "10.0.0.2", "connections": 25},
        {"client": "web1", "host": "db1", "connections": 3},
        {"client": "db1", "host": "127.0.0.1", "connections": 25},
        {"client": "pool2", "host": "127.0.0.1", "connections": 40},
        {"client": "pool3", "host": "10.0.0.3", "connections": 50},
    ]
    mine = connections_to(clients, "db1", ["10.0.0.2"])
    # pool2's 127.0.0.1 is its own host, and pool3 talks to another server.
    assert [row["client"] for row in mine] == ["pool1", "web1", "db1"]


def test_filters_are_registered() -> None:
    assert set(FilterModule().filters()) == {"pooler_connections", "connections_to"}
