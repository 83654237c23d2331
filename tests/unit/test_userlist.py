"""The userlist.txt verifiers and the admin console's passfile line."""

from __future__ import annotations

from plugins.filter.scram import scram_sha_256, scram_verifies
from plugins.filter.userlist import FilterModule, pgpass_escape, scram_keep


def test_a_stored_verifier_is_kept_while_the_password_matches() -> None:
    stored = scram_sha_256("the-app-password")
    assert scram_keep({"name": "app", "password": "the-app-password"}, {"app": stored}) == stored


def test_a_changed_password_gets_a_new_verifier() -> None:
    stored = scram_sha_256("the-old-password")
    new = scram_keep({"name": "app", "password": "the-new-password"}, {"app": stored})
    assert new != stored
    assert scram_verifies("the-new-password", new)
    assert new.split("$")[1] != stored.split("$")[1]


def test_a_user_with_nothing_stored_gets_a_new_verifier() -> None:
    new = scram_keep({"name": "admin", "password": "an-admin-password"}, {"app": "", "other": "x"})
    assert scram_verifies("an-admin-password", new)
    assert scram_keep({"name": "admin", "password": "an-admin-password"}, {"admin": ""}) != new


def test_pgpass_escape_escapes_backslash_then_colon() -> None:
    assert pgpass_escape("a:b\\c") == "a\\:b\\\\c"
    assert pgpass_escape("plain") == "plain"


def test_filters_are_registered() -> None:
    assert FilterModule().filters() == {"scram_keep": scram_keep, "pgpass_escape": pgpass_escape}
