"""The app's environment file on an app host, and the hosts its URLs name."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

# The app's environment file on an app host in host mode.
ENV_FILE = "/etc/pgstack-webapp/env"


def environment(host: Any) -> dict[str, str]:
    """The app's environment file on a testinfra host, name: value."""
    return parse(host.file(ENV_FILE).content_string)


def parse(text: str) -> dict[str, str]:
    """An environment file's lines, name: value (systemd's quotes or Compose's)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {key: value.strip("\"'") for key, value in pairs}


def endpoints(url: str) -> list[tuple[str, int]]:
    """The (host, port) a postgres:// URL names, in order: its own, or libpq's
    host=a,b&port=1,2 list (several poolers, webapp_pooler_fallback)."""
    parts = urlsplit(url)
    if parts.hostname:
        return [(parts.hostname, parts.port)]
    query = parse_qs(parts.query)
    hosts, ports = query["host"][0].split(","), query["port"][0].split(",")
    return [(h, int(p)) for h, p in zip(hosts, ports, strict=True)]
