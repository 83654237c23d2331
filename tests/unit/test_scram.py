"""The SCRAM filter must produce byte for byte what PostgreSQL stores.

The expected verifiers were read from pg_authid.rolpassword of a PostgreSQL 15
server (Debian 12) after CREATE ROLE ... PASSWORD '<clear text>' with
password_encryption = 'scram-sha-256'; the salt is taken from each verifier.
"""

from __future__ import annotations

import re

import pytest

from plugins.filter.scram import FilterModule, derived_salt, saslprep, scram_sha_256

POSTGRES_VERIFIERS = [
    # plain ASCII: SASLprep leaves it alone
    (
        "correct horse battery staple",
        "SCRAM-SHA-256$4096:RLQHTLq5UwzZY4BVArieiA==$oXVlzRdKOroXShNxzNnyydgBdUeeSe1xtgZ6DPhkp0s="
        ":cKOztFB5UEZZ1PwPtE1G4j86caNgpf3K7YEe3i8QOiM=",
    ),
    # non-ASCII letters and a no-break space (mapped to a space)
    (
        "pä ss\u00a0wörd",
        "SCRAM-SHA-256$4096:feMqsMe0WXZdJNOMQajqCA==$mq/vPokRjh7Hb568Ad2g8vx98WMbXBiisJ72HPA65vo="
        ":dDrkW9cxVaOIzgMJ92leFD0D1uhGptOe9Q4P8HmlyYQ=",
    ),
    # NFKC: the Roman numeral nine becomes "IX"
    (
        "\u2168-roman",
        "SCRAM-SHA-256$4096:DbBrMLJEr6QK7QQ2P4jbng==$lBDQp1mkGH7zX5SbCtxTZil0l1jBUhnynWZjI031L7c="
        ":OuzneST4wHfuNMCkq9TzRJRt4E+2uSpi9o1e0SixlQ8=",
    ),
    # a zero-width space is "mapped to nothing"
    (
        "x\u200by",
        "SCRAM-SHA-256$4096:LqfqDXXZ+GdNb+AhAjQLBw==$4LhSmooI0CME8+GfGxU6izwuXuAeHo0IcT7LBc5kN2Q="
        ":TypjuqyD+af9AxiN5NNYCmvZacJSsfISM4/c2JRWMkw=",
    ),
    # a prohibited control character: PostgreSQL falls back to the raw bytes
    (
        "bell\x07pass",
        "SCRAM-SHA-256$4096:jfOyiDFWDuOg2XkgDb2V1A==$vLTCM/0/FJhtQ/fYNbDgNtlwGWGGjbs60RStzkUpUWM="
        ":LnP7MDXJNW5FMhmYoY0JUjuILUVFS0OYgxsLf0lfEZo=",
    ),
    (
        "x",
        "SCRAM-SHA-256$4096:4gcKyZ9zHf1+8NasjcZwYA==$AIdvE9pMOVJEyjmVPMydpUOlD8i1TUh2CXhC8VQmsDw="
        ":9igLc7KEu6a/AUdMLQIL2AF3OrM6h7U7HLO8Dn10czk=",
    ),
]

VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


@pytest.mark.parametrize(("password", "expected"), POSTGRES_VERIFIERS)
def test_matches_postgresql(password: str, expected: str) -> None:
    salt = VERIFIER.match(expected).group(2)
    assert scram_sha_256(password, salt=salt) == expected


def test_derived_salt_is_stable_and_per_role() -> None:
    first = scram_sha_256("s3cret-password", salt_seed="app")
    assert first == scram_sha_256("s3cret-password", salt_seed="app")
    assert first != scram_sha_256("s3cret-password", salt_seed="other")
    assert first != scram_sha_256("s3cret-passwore", salt_seed="app")
    iterations, salt, _, _ = VERIFIER.match(first).groups()
    assert iterations == "4096"
    assert len(derived_salt("s3cret-password", "app")) == 16
    assert salt != ""


def test_verifier_never_contains_the_password() -> None:
    assert "s3cret-password" not in scram_sha_256("s3cret-password", salt_seed="app")


def test_iterations_are_honoured() -> None:
    assert scram_sha_256("pw", salt_seed="u", iterations=10000).startswith("SCRAM-SHA-256$10000:")
    assert scram_sha_256("pw", salt_seed="u", iterations=10000) != scram_sha_256("pw", salt_seed="u")


@pytest.mark.parametrize("bad", ["", None, 42])
def test_rejects_missing_password(bad: object) -> None:
    with pytest.raises(ValueError, match="non-empty password"):
        scram_sha_256(bad)  # type: ignore[arg-type]


def test_rejects_bad_iterations() -> None:
    with pytest.raises(ValueError, match="iteration"):
        scram_sha_256("pw", iterations=0)


def test_saslprep_ascii_is_identity() -> None:
    assert saslprep("Hello World!") == b"Hello World!"


def test_filter_is_registered() -> None:
    assert FilterModule().filters()["scram_sha_256"] is scram_sha_256
