"""How a Docker host's services are published and named (plugins/filter/docker_hosts.py)."""

from __future__ import annotations

import pytest

from plugins.filter.docker_hosts import host_names, publish_addresses


@pytest.mark.parametrize(
    ("listen", "published"),
    [
        (["localhost"], ["127.0.0.1"]),
        (["*"], ["0.0.0.0"]),
        (["localhost", "10.0.0.5"], ["127.0.0.1", "10.0.0.5"]),
        (["::1"], ["[::1]"]),
        (["[fd00::5]"], ["[fd00::5]"]),
        ([" 10.0.0.5", "10.0.0.5 ", ""], ["10.0.0.5"]),
        (["127.0.0.1", "localhost"], ["127.0.0.1"]),
        ([], []),
    ],
)
def test_listen_addresses_as_docker_publishes_them(listen: list[str], published: list[str]) -> None:
    assert publish_addresses(listen) == published


def test_a_host_is_named_by_what_its_facts_know() -> None:
    facts = {"hostname": "db1", "fqdn": "db1.example.org", "default_ipv4": {"address": "10.0.0.5"}}
    assert host_names("db", facts) == ["db", "db1", "db1.example.org", "10.0.0.5"]
    # A host name that is its inventory name too, and facts not gathered.
    assert host_names("db1", {"hostname": "db1", "fqdn": "", "default_ipv4": {}}) == ["db1"]
    assert host_names("db1", None) == ["db1"]
