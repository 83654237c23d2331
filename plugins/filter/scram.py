"""SCRAM-SHA-256 verifiers exactly as PostgreSQL stores them in pg_authid.

PgBouncer can log in to PostgreSQL on a client's behalf only when its
userlist.txt holds the very verifier PostgreSQL stores for the role (same salt,
same iterations). Deriving the salt from the user name and password makes the
verifier stable across runs, so PostgreSQL and PgBouncer can both be given the
same string and a second run changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stringprep
import unicodedata

DOCUMENTATION = r"""
name: scram_sha_256
short_description: SCRAM-SHA-256 verifier as PostgreSQL stores it
description:
  - Returns C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>), the format of
    C(pg_authid.rolpassword), usable as a pre-hashed PostgreSQL password and in PgBouncer's
    C(userlist.txt).
  - Without O(salt), a 16-byte salt is derived from the password and O(salt_seed), so the
    same input always gives the same verifier.
options:
  _input:
    description: The clear-text password.
    type: str
    required: true
  salt_seed:
    description: Text mixed into the derived salt; use the role name so equal passwords of different roles differ.
    type: str
    default: ""
  salt:
    description: Base64 salt to use instead of a derived one.
    type: str
  iterations:
    description: PBKDF2 iteration count (PostgreSQL's default is 4096).
    type: int
    default: 4096
"""

EXAMPLES = r"""
userlist_line: '"app" "{{ app_password | pgstack.pgbouncer.scram_sha_256(salt_seed=''app'') }}"'
"""

RETURN = r"""
_value:
  description: The verifier.
  type: str
"""

SALT_LENGTH = 16
DEFAULT_ITERATIONS = 4096
_SALT_CONTEXT = b"pgstack.pgbouncer scram salt\x00"


def _prohibited(char: str) -> bool:
    return any(
        check(char)
        for check in (
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
    )


def saslprep(password: str) -> bytes:
    """SASLprep (RFC 4013) as PostgreSQL applies it to passwords.

    PostgreSQL falls back to the raw UTF-8 bytes when the password is not
    valid under SASLprep, so this does the same instead of raising.
    """
    raw = password.encode("utf-8")
    if password.isascii() and all(0x20 <= ord(c) < 0x7F for c in password):
        return raw
    # Like PostgreSQL, a character in both tables (U+200B) becomes a space.
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if stringprep.in_table_c12(c) or not stringprep.in_table_b1(c)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized or any(_prohibited(c) for c in normalized):
        return raw
    is_ral = [stringprep.in_table_d1(c) for c in normalized]
    if any(is_ral):
        if any(stringprep.in_table_d2(c) for c in normalized):
            return raw
        if not (is_ral[0] and is_ral[-1]):
            return raw
    return normalized.encode("utf-8")


def derived_salt(password: str, salt_seed: str = "") -> bytes:
    """A stable salt: an HMAC of the seed keyed with the password."""
    message = _SALT_CONTEXT + salt_seed.encode("utf-8")
    return hmac.new(password.encode("utf-8"), message, hashlib.sha256).digest()[:SALT_LENGTH]


def scram_sha_256(
    password: str,
    salt_seed: str = "",
    salt: str | None = None,
    iterations: int = DEFAULT_ITERATIONS,
) -> str:
    """Build the verifier PostgreSQL would store for ``password``."""
    if not isinstance(password, str) or password == "":
        raise ValueError("scram_sha_256 needs a non-empty password string")
    if int(iterations) < 1:
        raise ValueError("scram_sha_256 needs a positive iteration count")
    salt_bytes = base64.b64decode(salt, validate=True) if salt else derived_salt(password, salt_seed)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password), salt_bytes, int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${int(iterations)}:{b64(salt_bytes)}${b64(stored_key)}:{b64(server_key)}"


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {"scram_sha_256": scram_sha_256}
