"""Which poolers an app host's DATABASE_URL names, and in which order."""

from __future__ import annotations

import pytest

from plugins.filter.poolers import address, pooler_endpoints, poolers_for, remote_peers

FACTS = {
    "pool1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.11"}}},
    "pool2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}}},
    "pool3": {"ansible_facts": {}},
}


@pytest.mark.parametrize(
    ("app_host", "expected"),
    [
        ("web1", ["10.0.0.11", "10.0.0.12", "pool3"]),
        ("web2", ["10.0.0.12", "pool3", "10.0.0.11"]),
        ("web3", ["pool3", "10.0.0.11", "10.0.0.12"]),
        ("web4", ["10.0.0.11", "10.0.0.12", "pool3"]),
    ],
)
def test_each_app_host_starts_at_a_pooler_of_its_own_in_turn(app_host: str, expected: list[str]) -> None:
    apps = ["web1", "web2", "web3", "web4"]
    assert poolers_for(["pool1", "pool2", "pool3"], app_host, apps, FACTS) == expected


def test_a_pooler_beside_the_app_comes_first_over_loopback() -> None:
    apps = ["pool2", "web1"]
    assert poolers_for(["pool1", "pool2"], "pool2", apps, FACTS) == ["127.0.0.1", "10.0.0.11"]
    # The co-located app host takes no turn from the others.
    assert poolers_for(["pool1", "pool2"], "web1", apps, FACTS) == ["10.0.0.11", "10.0.0.12"]


def test_one_pooler_is_the_only_choice() -> None:
    assert poolers_for(["pool1"], "web2", ["web1", "web2"], FACTS) == ["10.0.0.11"]
    assert poolers_for([], "web1", ["web1"], FACTS) == []


def test_docker_endpoints_own_service_first_then_published_ports() -> None:
    facts = {**FACTS, "pool2": {**FACTS["pool2"], "pgbouncer_listen_port": 16435}}
    own = ["pgbouncer", 5432]
    # A Docker host with PgBouncer: its own service first, on the project network.
    assert pooler_endpoints(["pool1", "pool2"], "pool1", ["pool1", "pool2"], facts, own, 6432) == [
        ["pgbouncer", 5432], ["10.0.0.12", 16435]]
    assert pooler_endpoints(["pool1", "pool2"], "pool2", ["pool1", "pool2"], facts, own, 6432) == [
        ["pgbouncer", 5432], ["10.0.0.11", 6432]]
    # An app-only Docker host: every pooler at its address and published port, in its turn.
    assert pooler_endpoints(["pool1", "pool2"], "web2", ["web1", "web2"], facts, own, 6432) == [
        ["10.0.0.12", 16435], ["10.0.0.11", 6432]]


def test_remote_peers_name_each_process_of_the_other_hosts() -> None:
    facts = {**FACTS, "pool2": {**FACTS["pool2"], "pgbouncer_processes": 2, "pgbouncer_listen_port": 16442}}
    # pool1 is at place 0, pool2 at 1 (two processes), pool3 at 2 (no facts: its name).
    assert remote_peers(["pool1", "pool2", "pool3"], "pool1", facts, 6432) == [
        {"id": 101, "host": "10.0.0.12", "port": 16442},
        {"id": 102, "host": "10.0.0.12", "port": 16442},
        {"id": 201, "host": "pool3", "port": 6432},
    ]
    assert remote_peers(["pool1"], "pool1", facts, 6432) == []


def test_a_host_the_inventory_does_not_hold_keeps_its_name() -> None:
    assert address("nosuchhost", FACTS) == "nosuchhost"
    peers = remote_peers(["pool1", "nosuchhost"], "pool1", FACTS, 6432)
    assert peers == [{"id": 101, "host": "nosuchhost", "port": 6432}]
