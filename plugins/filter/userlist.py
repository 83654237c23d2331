"""Verifiers for PgBouncer's userlist.txt, keeping those already stored, and
the escaping of libpq's passfile, by which the admin console gets its password."""

from __future__ import annotations

from collections.abc import Mapping

try:
    from ansible_collections.pgstack.pgbouncer.plugins.filter.scram import scram_sha_256
except ImportError:  # the unit tests import the checkout itself
    from plugins.filter.scram import scram_sha_256

DOCUMENTATION = r"""
name: scram_keep
short_description: A user's stored SCRAM verifier while the password matches it, else a new one
description:
  - For an entry C({name, password}), returns the verifier in O(stored) under that name when the
    password still matches it, otherwise a new verifier with a random salt.
options:
  _input:
    description: A mapping with the user's C(name) and clear C(password).
    type: dict
    required: true
  stored:
    description: The verifiers stored now, by user name.
    type: dict
    required: true
"""

EXAMPLES = r"""
verifiers: "{{ users | map('pgstack.pgbouncer.scram_keep', stored) | list }}"
# pgpass_escape, in the same file: a libpq passfile field, backslash and colon escaped.
line: "*:*:*:{{ user }}:{{ password | pgstack.pgbouncer.pgpass_escape }}"
"""

RETURN = r"""
_value:
  description: The verifier.
  type: str
"""


def scram_keep(user: Mapping[str, str], stored: Mapping[str, str]) -> str:
    """The stored verifier of ``user`` if its password matches, else a new one."""
    return scram_sha_256(user["password"], current=stored.get(user["name"]) or None)


def pgpass_escape(value: str) -> str:
    """A field of a libpq passfile: backslash and colon escaped."""
    return value.replace("\\", "\\\\").replace(":", "\\:")


class FilterModule:
    """pgstack.pgbouncer userlist filters."""

    def filters(self) -> dict[str, object]:
        return {"scram_keep": scram_keep, "pgpass_escape": pgpass_escape}
