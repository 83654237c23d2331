"""The SCRAM filter must produce byte for byte what PostgreSQL stores.

The expected verifiers were read from pg_authid.rolpassword after
CREATE ROLE ... PASSWORD E'<clear text>' with password_encryption =
'scram-sha-256'; the salt is taken from each verifier. The server's SASLprep is
what libpq applies on the client, so any difference means a failed login.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from plugins.filter.scram import FilterModule, saslprep, scram_sha_256, scram_verifies

# PostgreSQL 15 (Debian 12).
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
    # U+200B is in both C.1.2 and B.1; PostgreSQL maps it to a space
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
    # The vectors below: PostgreSQL 15.20 (Debian 15.20-0+deb12u1).
    # U+0340 is prohibited (C.8) before NFKC would turn it into U+0300: raw bytes
    (
        "pass\u0340word",
        "SCRAM-SHA-256$4096:SrdJpR/KduiQFNaH345XFw==$V39Et6+0A0OCutLMtSu6+odO2fZFZqiVxMKw6W6HLsQ="
        ":HwwxK6B77LyLQhOIyUzjyIFbr9K8bYj8pNSh/DalYF0=",
    ),
    # U+2135 ALEF SYMBOL is LCat before NFKC makes it Hebrew alef, so no bidi failure
    (
        "pass\u2135word",
        "SCRAM-SHA-256$4096:FQvqmdKW4LoJux/3NmFQtg==$Sa/lV72OM/75+rP86AaZ/g92v65UGHOqd3f6dygPGrQ="
        ":nzUluXCSQO6abhkds+daoo0j8uD/VtfYJveZI1sy5g4=",
    ),
    (
        "\u2135",
        "SCRAM-SHA-256$4096:N9BUJHE60Q2/gzrzYAtuJA==$X/Rqwii8838OwF/yO5gQHxYTIyJ72CPq3f/9TKsRxNA="
        ":ZUrm6ylicSu/LWsQzrz8/Mb13OVzx/Lcza0y25bZyhY=",
    ),
    # ...but it makes a Hebrew string mix RandALCat with LCat: raw bytes
    (
        "\u05e9\u05dc\u05d5\u05dd\u2135",
        "SCRAM-SHA-256$4096:GkeFvdNyKHhNS6ZYSgDzKQ==$eUKpyfrMdxOAN++p7Tq3KbF1BCK1AA+ltKkAawfG5VE="
        ":BkrRpYqwPq0evJcMSoCbKXwiTLEUiGmwnAk5RunbpjM=",
    ),
    # full-width letters and digits: NFKC gives "password123"
    (
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12\uff13",
        "SCRAM-SHA-256$4096:4cqrybDH14QjIutmywUUxg==$iJ2GoQFbLoS1cAgMVPOc5hhBK/T5ABpgAvj5VmRuZ3E="
        ":NwW7pfWrYviMklu6raLRTq59kx3mPmi0hDbw0XAnUG8=",
    ),
    # an ideographic space (mapped to a space) between full-width letters
    (
        "\uff50\uff41\uff53\uff53\u3000\uff57\uff4f\uff52\uff44",
        "SCRAM-SHA-256$4096:7atMQHBgA8Sht6QvqelJAA==$VXoFHNfYh5UvfzQn0Gk1YMV9vBcLLJDygFRz+Qu2Zvc="
        ":hyosZnRNduHxA0mp9xBwv27vVOg0D/WmmKl519KatMQ=",
    ),
    # emoji are unassigned in Unicode 3.2 (A.1): raw bytes, full-width letters kept
    (
        "\uff30\uff41\uff53\uff53\U0001f600word",
        "SCRAM-SHA-256$4096:Ia7OlkKeKxjW6rAsu04k/g==$PeZolvPKS/Iql6G40WP3bB5tspk7vKwNiZghFrqSnYM="
        ":1acXYYMKnOVFbMeZNeB+aY8XulX6tIA2m2dEGu4r8+A=",
    ),
    (
        "correct\U0001f600horse",
        "SCRAM-SHA-256$4096:mwSV487Z4Eu6aBuX/XrGVw==$L56SAL1wP+vWcwMauH5G1hGaV6moU3nHzqNNENbv4Jg="
        ":EqHhX7P7MYbOU4oy4lLBGV423HGWMhv+cgBha9gdpoI=",
    ),
    # the ligature is not decomposed either, because of the emoji
    (
        "\ufb01\U0001f600",
        "SCRAM-SHA-256$4096:baaZPcS5HsUOv4TeYUF0cw==$+wYAMIS7Nb+T6ct9EtwPPv3VkH/9w8f318CK/icZeX4="
        ":CTG9iHPqFEmuLNPK5LIz76sjmZmm3PVGJGYv0dwNe1U=",
    ),
    # U+2C7C (Unicode 5.1) is unassigned in 3.2: raw bytes, although NFKC gives "j"
    (
        "pass\u2c7c",
        "SCRAM-SHA-256$4096:qNdwloF7TpNS6zFqcrHUfA==$2fFm839XhIV3irztkWJiuOy1nEEsl7fGHmJM7VQ63ro="
        ":yp93t8D4rJE5qKab73jp4AyP43dnA+Vx+Yg8jv1rcQI=",
    ),
    # Hebrew "shalom": RandALCat only, first and last
    (
        "\u05e9\u05dc\u05d5\u05dd",
        "SCRAM-SHA-256$4096:aGw5Ly9I4eFkhcMVJmRxFg==$WfFUxdDXN9ng7liCq626Zz/SqpAZGRQP8FZKM4p1RvY="
        ":OyWmgOT+QVjJ13agmweWBAbDkQ2NunPI9yvRPWocNE4=",
    ),
    # Hebrew and Latin letters mixed: prohibited, raw bytes
    (
        "\u05e9\u05dc\u05d5\u05dd world",
        "SCRAM-SHA-256$4096:oNb2pv5U2EsCWQMAj4v1qA==$ut84nuJqSw2uS9b5V322eCVsPzEZWrlv//j97PhWsIE="
        ":BSBcdlB1vswNIv6TofkiWdDbupdpIenQeb3e7tIYE2A=",
    ),
    # RandALCat but a full-width digit last: prohibited, so no NFKC to "1"
    (
        "\u05e9\u05dc\u05d5\u05dd\uff11",
        "SCRAM-SHA-256$4096:txuABFA4GWJ6mY8/XdTzqA==$voyitP4lmEQVzICreUFC4LhQHjSbYKI5+fFIpq2aqqA="
        ":eGlFrZP3FR1kaB0vrkhm9FfvyU2XK6cUHhhdFDh/3/4=",
    ),
    # Arabic presentation forms: RandALCat, NFKC maps them to the base letters
    (
        "\ufe8d\ufedf\ufe8e\ufee3",
        "SCRAM-SHA-256$4096:LqQSrT90XnyjlLW+JeF4WQ==$D06ixil384oBc3ap/e4Y3SOYIt8/9coU1kMw37w9mHw="
        ":3HrHxLYIiSR6cuiOsdwFSAODj2lEDzVUGDvEBEY7H+A=",
    ),
    # a soft hyphen is mapped to nothing (B.1)
    (
        "pass\u00adword",
        "SCRAM-SHA-256$4096:x9f2whWwIg+zGEstKumlDQ==$YJVDjKeJ5a2K7vsTjwlvvkYGVL6j+gFDQ3+/mT+mIhc="
        ":1uiGGlgfEro6K6p0TDzstpDhqOxKnQxJG7uQSsO3X5k=",
    ),
]

# PostgreSQL 17.12 (Debian 17.12-0+deb13u1): its SASLprep has the same tables,
# but newer Unicode normalization data.
POSTGRES_17_VERIFIERS = [
    (
        "pass\u0340word",
        "SCRAM-SHA-256$4096:fyZhBanzEfiayvf8FuoZsA==$2iylSULpqJA/BmolULNGEHc0NEAcceuHfCfec07+adc="
        ":3hGagKUFQlWiNpn6wEjQOvPuIw3fC03NoLskh8EJrbY=",
    ),
    (
        "pass\u2135word",
        "SCRAM-SHA-256$4096:4uTv9Y/ovmfG3fkHYJIbCw==$MNPIQ6GCH8P9uoUcEw8GbB185yQBUyiAamW4WnKqjOA="
        ":wz8KGSLcqUU6bJFZpTpY9Vgw3SnfsAKI4p0Pi9bDetk=",
    ),
    (
        "\uff30\uff41\uff53\uff53\U0001f600word",
        "SCRAM-SHA-256$4096:oLd2J+j/hnGCZpp9xHvssg==$yMBqDojtNav5LAkOlIvidWxoq1S3sebgiLdPhZvsG70="
        ":4Xv8I1MZyAr4imCW4iLvmaKYaH+lKs75p11hWVDKUws=",
    ),
    (
        "\u05e9\u05dc\u05d5\u05dd\u2135",
        "SCRAM-SHA-256$4096:lZ8wrdoluBsumWp3X7CeUQ==$G1BWS7+GrnohzWjt7gvb4LnhF/cRbJa5c5evxbotSJk="
        ":IF99ObEraouhm/AXTw0qVZ4utLaWRObU2Rup3IAe4cs=",
    ),
    (
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44\uff11\uff12\uff13",
        "SCRAM-SHA-256$4096:GlQPXbiB1YghcWh3FrfSTw==$Es7miZPpaNKuZ+AjPJ/+anSNHyZBpQAaoeDw6ld8kts="
        ":5daOCoRmeuU4xVKidWPgx/iwGCZA5rF30+AzezbBkKM=",
    ),
]

VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")

# 300 random passwords across many Unicode blocks, half of which the former
# SASLprep (checks after NFKC, no A.1 table) got wrong; the source is in the file.
RANDOM_VECTORS = json.loads((Path(__file__).parent / "data" / "scram_pg15_random.json").read_text())["vectors"]


def salt_of(verifier: str) -> str:
    return VERIFIER.match(verifier).group(2)


@pytest.mark.parametrize(("password", "expected"), POSTGRES_VERIFIERS + POSTGRES_17_VERIFIERS)
def test_matches_postgresql(password: str, expected: str) -> None:
    assert scram_sha_256(password, salt=salt_of(expected)) == expected
    assert scram_verifies(password, expected)


def test_matches_postgresql_on_random_passwords() -> None:
    wrong = [pw for pw, expected in RANDOM_VECTORS if scram_sha_256(pw, salt=salt_of(expected)) != expected]
    assert wrong == []


def test_salt_is_random() -> None:
    first, second = scram_sha_256("s3cret-password"), scram_sha_256("s3cret-password")
    assert salt_of(first) != salt_of(second)
    assert len(base64.b64decode(salt_of(first))) == 16
    assert scram_verifies("s3cret-password", first) and scram_verifies("s3cret-password", second)


@pytest.mark.parametrize(("password", "current"), POSTGRES_VERIFIERS[:2] + POSTGRES_VERIFIERS[-3:])
def test_matching_current_is_returned_unchanged(password: str, current: str) -> None:
    assert scram_sha_256(password, current=current) == current


# Near misses of a verifier that would be kept: only a strict parse rejects them.
KEPT = scram_sha_256("s3cret-password")


@pytest.mark.parametrize(
    "current",
    [
        None,
        "",
        scram_sha_256("another-password"),
        scram_sha_256("s3cret-password", iterations=10000),
        "md5" + "0" * 32,
        "garbage",
        "SCRAM-SHA-256$4096:c2FsdA==$bm90LWJhc2U2NA",
        "SCRAM-SHA-256$4096:c2FsdA==$!!!!:????",
        "SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=",
        KEPT.replace("$4096:", "$\u0664\u0660\u0669\u0666:"),  # Arabic-Indic digits
        KEPT + "\n",
        " " + KEPT,
        KEPT.replace("SCRAM-SHA-256", "scram-sha-256"),
        42,
    ],
    # Named, not shown: the salts are random, and pytest-xdist's workers must collect the same ids.
    ids=["none", "empty", "another-password", "10000-iterations", "md5", "garbage", "key-not-base64",
         "keys-not-base64", "keys-too-short", "arabic-indic-digits", "trailing-newline", "leading-space",
         "lower-case-name", "an-int"],  # fmt: skip
)
def test_other_current_gives_a_new_verifier(current: object) -> None:
    assert scram_sha_256("s3cret-password", current=KEPT) == KEPT
    new = scram_sha_256("s3cret-password", current=current)  # type: ignore[arg-type]
    assert new != current
    assert new.startswith("SCRAM-SHA-256$4096:")
    assert scram_verifies("s3cret-password", new)


def test_scram_verifies() -> None:
    password, verifier = POSTGRES_VERIFIERS[1]
    assert scram_verifies(password, verifier)
    assert not scram_verifies(password + "x", verifier)
    assert not scram_verifies("pa\u0308 ss\u00a0wo\u0308rd", verifier[:-4] + "AAA=")
    assert scram_verifies("pa\u0308 ss\u00a0wo\u0308rd", verifier)  # same after NFKC


@pytest.mark.parametrize("verifier", ["", None, "md5" + "0" * 32, "SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ="])
def test_scram_verifies_is_false_for_malformed_verifiers(verifier: object) -> None:
    assert scram_verifies("pw", verifier) is False  # type: ignore[arg-type]


def test_verifier_never_contains_the_password() -> None:
    assert "s3cret-password" not in scram_sha_256("s3cret-password")


def test_iterations_are_honoured() -> None:
    salt = salt_of(POSTGRES_VERIFIERS[0][1])
    verifier = scram_sha_256("pw", iterations=10000, salt=salt)
    assert verifier.startswith("SCRAM-SHA-256$10000:")
    assert verifier != scram_sha_256("pw", salt=salt)
    assert scram_verifies("pw", verifier)


@pytest.mark.parametrize("bad", ["", None, 42])
def test_rejects_missing_password(bad: object) -> None:
    with pytest.raises(ValueError, match="non-empty password"):
        scram_sha_256(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty password"):
        scram_verifies(bad, POSTGRES_VERIFIERS[0][1])  # type: ignore[arg-type]


@pytest.mark.parametrize("iterations", [0, -1])
def test_rejects_bad_iterations(iterations: int) -> None:
    with pytest.raises(ValueError, match="iteration"):
        scram_sha_256("pw", iterations=iterations)


def test_saslprep_ascii_is_identity() -> None:
    assert saslprep("Hello World!") == b"Hello World!"
    assert saslprep("bell\x07pass") == b"bell\x07pass"


def test_filters_are_registered() -> None:
    filters = FilterModule().filters()
    assert filters["scram_sha_256"] is scram_sha_256
    assert filters["scram_verifies"] is scram_verifies
