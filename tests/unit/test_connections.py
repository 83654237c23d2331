"""The connection budget: what poolers and app hosts may open, and to which PostgreSQL."""

from __future__ import annotations

import pytest

from plugins.filter.connections import FilterModule, connections_to, per_process, pooler_connections


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
    assert set(FilterModule().filters()) == {"pooler_connections", "connections_to", "per_process"}


def test_a_process_share_is_rounded_up_at_least_one_and_zero_stays_zero() -> None:
    assert [per_process(1000, n) for n in (1, 2, 3, 4)] == [1000, 500, 334, 250]
    assert per_process(5, 2) == 3
    assert per_process(1, 4) == 1
    assert per_process(0, 3) == 0
    assert per_process("20", "3") == 7


def test_a_process_share_needs_a_process() -> None:
    with pytest.raises(ValueError, match="processes must be 1 or more"):
        per_process(10, 0)


def test_several_processes_count_each_process_pools() -> None:
    one = pooler_connections([{"name": "app"}], "p", "db", users=1, default_pool_size=20, reserve_pool_size=5)
    three = pooler_connections(
        [{"name": "app"}, {"name": "small", "pool_size": 1}],
        "p", "db", users=2, default_pool_size=20, reserve_pool_size=5, processes=3,
    )
    assert one[0]["connections"] == 25
    # 20 -> 7 and 5 -> 2 per process; pool_size 1 stays 1 per process.
    assert [row["connections"] for row in three] == [3 * (7 + 2) * 2, 3 * (1 + 2) * 2]


def test_several_processes_share_max_db_connections() -> None:
    rows = pooler_connections(
        [{"name": "app"}], "p", "db", users=3, default_pool_size=20, reserve_pool_size=5,
        max_db_connections=30, processes=4,
    )
    # Each process caps its pools at ceil(30 / 4) = 8.
    assert rows[0]["connections"] == 4 * 8
