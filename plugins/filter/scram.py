"""SCRAM-SHA-256 verifiers exactly as PostgreSQL stores them in pg_authid.

PgBouncer can log in to PostgreSQL on a client's behalf only when its
userlist.txt holds the very verifier PostgreSQL stores for the role (same salt,
same iterations). The salt is random, as in PostgreSQL: SCRAM sends it to anyone
who starts a login, so a salt derived from the password would invite offline
guessing. A second run stays idempotent because the caller passes the verifier
already stored (``current``): when the password still matches it, it is
returned unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

DOCUMENTATION = r"""
name: scram_sha_256
short_description: SCRAM-SHA-256 verifier as PostgreSQL stores it
description:
  - Returns C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), the format of
    C(pg_authid.rolpassword), usable as a pre-hashed PostgreSQL password and in PgBouncer's
    C(userlist.txt).
  - The salt is 16 random bytes, as PostgreSQL makes it, so each call gives a new verifier
    unless O(current) already matches the password.
  - The file also provides the filter C(scram_verifies), C(password | scram_verifies(verifier)),
    which is true when the clear-text password matches the verifier and false otherwise
    (also for anything that is not a SCRAM-SHA-256 verifier).
options:
  _input:
    description: The clear-text password.
    type: str
    required: true
  current:
    description:
      - The verifier stored so far, for example C(pg_authid.rolpassword).
      - Returned unchanged when it is a SCRAM-SHA-256 verifier with O(iterations) iterations
        that the password matches; anything else (empty, an md5 hash, garbage) is ignored.
    type: str
  iterations:
    description: PBKDF2 iteration count (PostgreSQL's default is 4096).
    type: int
    default: 4096
  salt:
    description: Base64 salt to use instead of a random one (for tests).
    type: str
"""

EXAMPLES = r"""
# Keep the stored verifier when the password has not changed, so reruns change nothing.
rolpassword: "{{ app_password | pgstack.pgbouncer.scram_sha_256(current=stored_rolpassword) }}"

password_changed: "{{ not (app_password | pgstack.pgbouncer.scram_verifies(stored_rolpassword)) }}"
"""

RETURN = r"""
_value:
  description: The verifier (O(current) itself when the password matches it).
  type: str
"""

SALT_LENGTH = 16
DEFAULT_ITERATIONS = 4096

# [0-9] rather than \d, which would also accept non-ASCII digits.
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_VERIFIER = re.compile(rf"SCRAM-SHA-256\$([0-9]+):({_B64})\$({_B64}):({_B64})")

# stringprep's tables are Unicode 3.2, like the ones in PostgreSQL's saslprep.c
# (checked code point by code point); C.1.2 is included to mirror PostgreSQL's
# prohibited-output table even though step 1 has already mapped those to spaces.
_PROHIBITED = (
    stringprep.in_table_a1,
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(password: str) -> bytes:
    """The bytes PostgreSQL's pg_saslprep() makes of a password.

    It must match PostgreSQL and libpq to the byte, not RFC 4013: where
    PostgreSQL reports the password as prohibited, both sides fall back to the
    raw UTF-8, so this returns those instead of raising.
    """
    raw = password.encode("utf-8")
    if password.isascii():  # control characters included, as in pg_is_ascii()
        return raw
    # U+200B is in both tables; PostgreSQL tests for spaces first.
    mapped = [
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if stringprep.in_table_c12(c) or not stringprep.in_table_b1(c)
    ]
    if not mapped:
        return raw
    # PostgreSQL runs the prohibit and bidi checks on the mapped but NOT yet
    # normalized characters (so U+0340 is refused although NFKC makes it U+0300,
    # and U+2135 counts as LCat although NFKC makes it Hebrew alef).
    if any(check(c) for c in mapped for check in _PROHIBITED):
        return raw
    if any(stringprep.in_table_d1(c) for c in mapped) and (
        any(stringprep.in_table_d2(c) for c in mapped)
        or not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1]))
    ):
        return raw
    # Only Unicode 3.2 characters get here (A.1 refuses the rest), and their
    # NFKC is stable across Unicode versions, so the difference between
    # Python's unicodedata and PostgreSQL's normalization tables is moot.
    return unicodedata.normalize("NFKC", "".join(mapped)).encode("utf-8")


def _check_password(password: object) -> str:
    if not isinstance(password, str) or password == "":
        raise ValueError("SCRAM needs a non-empty password string")
    return password


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey (RFC 5802)."""
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def _parse(verifier: object) -> tuple[int, bytes, bytes, bytes] | None:
    """(iterations, salt, StoredKey, ServerKey), or None when malformed."""
    match = _VERIFIER.fullmatch(verifier) if isinstance(verifier, str) else None
    if match is None:
        return None
    try:
        salt, stored_key, server_key = (base64.b64decode(part, validate=True) for part in match.group(2, 3, 4))
    except binascii.Error:
        return None
    iterations = int(match.group(1))
    if iterations < 1 or len(stored_key) != 32 or len(server_key) != 32:
        return None
    return iterations, salt, stored_key, server_key


def _matches(password: str, parsed: tuple[int, bytes, bytes, bytes]) -> bool:
    iterations, salt, stored_key, server_key = parsed
    expected_stored, expected_server = _keys(password, salt, iterations)
    # Both keys, each in constant time: the same check PostgreSQL makes for a login.
    stored_ok = hmac.compare_digest(stored_key, expected_stored)
    server_ok = hmac.compare_digest(server_key, expected_server)
    return stored_ok and server_ok


def scram_verifies(password: str, verifier: str) -> bool:
    """Whether ``password`` matches ``verifier`` (False when it is malformed)."""
    password = _check_password(password)
    parsed = _parse(verifier)
    return parsed is not None and _matches(password, parsed)


def scram_sha_256(
    password: str,
    current: str | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    salt: str | None = None,
) -> str:
    """The verifier PostgreSQL would store for ``password``, or ``current`` if it matches."""
    password = _check_password(password)
    iterations = int(iterations)
    if iterations < 1:
        raise ValueError("SCRAM needs a positive iteration count")
    parsed = _parse(current)
    # Compare the iteration count first: a foreign verifier could name a huge one.
    if isinstance(current, str) and parsed is not None and parsed[0] == iterations and _matches(password, parsed):
        return current
    salt_bytes = base64.b64decode(salt, validate=True) if salt else secrets.token_bytes(SALT_LENGTH)
    stored_key, server_key = _keys(password, salt_bytes, iterations)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt_bytes)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {"scram_sha_256": scram_sha_256, "scram_verifies": scram_verifies}
