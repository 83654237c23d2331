"""Shared by the scenarios' TLS tests (issue 13): a CA that signed nothing
here, certificate fingerprints, and what each login of tls_probe.py must
have answered."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PROBE = Path(__file__).with_name("tls_probe.py")
# libpq's messages for each refused login (a CA of the same name as the
# right one fails on the signature, another on the issuer).
REFUSED = {
    "wrong name": ("does not match host name",),
    "wrong CA": ("certificate verify failed", "bad signature"),
}
PLAIN_REFUSED = {"PgBouncer": "SSL required", "PostgreSQL": "no pg_hba.conf entry"}


def other_ca_pem() -> str:
    """A self-signed CA of the same name as the collection's, made now."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgstack CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def fingerprint(pem: str) -> str:
    """SHA-256 of a PEM certificate's DER form, as tls_probe.py's "served" gives it."""
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def leg_problems(found: dict[str, dict[str, str]]) -> list[str]:
    """What in tls_probe.py's "attempts" answer is not as TLS on every leg wants it."""
    problems = []
    for server, answers in found.items():
        if answers["right"] != "ok":
            problems.append(f"{server}: verify-full with the right CA and name: {answers['right']}")
        if PLAIN_REFUSED[server] not in answers["plain"]:
            problems.append(f"{server}: without TLS: {answers['plain']}")
        for case, messages in REFUSED.items():
            if not any(message in answers[case] for message in messages):
                problems.append(f"{server}: {case}: {answers[case]}")
    return problems
