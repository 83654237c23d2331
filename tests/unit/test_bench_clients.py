"""scripts/bench/clients.py: SCRAM against RFC 7677's test vector, and whole runs against a fake
PostgreSQL on 127.0.0.1 that logs clients in with SCRAM-SHA-256 and answers SELECT 1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import socket
import struct
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts/bench"))

import clients  # noqa: E402
from clients import ClientFailure, HoldResult, ScramClient, hold_connections  # noqa: E402

PASSWORD = "correct horse battery staple"
SALT = b"0123456789abcdef"
ITERATIONS = 4096

# RFC 7677, section 3.
RFC_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _auth(code: int, payload: bytes = b"") -> bytes:
    return _message(b"R", struct.pack("!i", code) + payload)


class FakePostgres:
    """The server side of the protocol as PostgreSQL and PgBouncer speak it, for one password.

    StoredKey and ServerKey are derived as PostgreSQL stores them (RFC 5802), then every login
    is checked against them. ``bad_signature`` sends a wrong ServerSignature; ``auth_code``
    asks for another method instead of SASL.
    """

    def __init__(self, *, bad_signature: bool = False, auth_code: int = 10) -> None:
        salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), SALT, ITERATIONS)
        self.stored_key = hashlib.sha256(_hmac(salted, b"Client Key")).digest()
        self.server_key = _hmac(salted, b"Server Key")
        self.bad_signature = bad_signature
        self.auth_code = auth_code
        self.startups: list[dict[str, str]] = []
        self.port = 0

    @staticmethod
    async def read(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
        header = await reader.readexactly(5)
        return header[:1], await reader.readexactly(int.from_bytes(header[1:], "big") - 4)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.session(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: what the client saw is what the tests check
        finally:
            writer.close()

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = int.from_bytes(await reader.readexactly(4), "big")
        startup = await reader.readexactly(length - 4)
        assert startup[:4] == struct.pack("!i", 3 << 16)
        words = startup[4:].split(b"\x00")
        params = dict(zip(words[0::2], words[1::2], strict=False))
        self.startups.append({k.decode(): v.decode() for k, v in params.items() if k})
        if self.auth_code != 10:
            writer.write(_auth(self.auth_code))
            await reader.read()  # until the client hangs up
            return
        writer.write(_auth(10, b"SCRAM-SHA-256\x00\x00"))
        kind, body = await self.read(reader)
        mechanism, rest = body.split(b"\x00", 1)
        assert (kind, mechanism) == (b"p", b"SCRAM-SHA-256")
        client_first = rest[4 : 4 + int.from_bytes(rest[:4], "big")].decode()
        assert client_first.startswith("n,,")
        client_first_bare = client_first[3:]
        client_nonce = client_first_bare.split("r=", 1)[1]
        server_first = f"r={client_nonce}{secrets.token_urlsafe(18)},s={base64.b64encode(SALT).decode()},i={ITERATIONS}"
        writer.write(_auth(11, server_first.encode()))
        kind, body = await self.read(reader)
        without_proof, proof = body.decode().rsplit(",p=", 1)
        assert without_proof.startswith("c=biws,r=")
        auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
        signature = _hmac(self.stored_key, auth_message)
        client_key = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        if hashlib.sha256(client_key).digest() != self.stored_key:
            fields = [b"SFATAL", b"VFATAL", b"C28P01", b'Mpassword authentication failed for user "app"']
            writer.write(_message(b"E", b"\x00".join(fields) + b"\x00\x00"))
            return
        server_signature = _hmac(self.server_key, auth_message)
        if self.bad_signature:
            server_signature = bytes(32)
        writer.write(_auth(12, b"v=" + base64.b64encode(server_signature)))
        writer.write(_auth(0) + _message(b"S", b"server_version\x0017.0\x00") + _message(b"K", bytes(8)))
        writer.write(_message(b"N", b"SNOTICE\x00Mwelcome\x00\x00") + _message(b"Z", b"I"))
        while True:
            kind, body = await self.read(reader)
            if kind == b"X":
                return
            assert (kind, body) == (b"Q", b"SELECT 1\x00")
            row = _message(b"D", struct.pack("!hi", 1, 1) + b"1")
            writer.write(_message(b"T", b"\x00\x01?column?\x00" + bytes(18)) + row)
            writer.write(_message(b"C", b"SELECT 1\x00") + _message(b"Z", b"I"))


@asynccontextmanager
async def fake_postgres(**options: Any) -> AsyncIterator[FakePostgres]:
    fake = FakePostgres(**options)
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    async with server:
        yield fake


def run(password: str = PASSWORD, **options: Any) -> tuple[HoldResult, FakePostgres]:
    """One hold_connections() run against a fresh fake server; options go to the server or the run."""
    server_options = {k: options.pop(k) for k in ("bad_signature", "auth_code") if k in options}

    async def go() -> tuple[HoldResult, FakePostgres]:
        async with fake_postgres(**server_options) as fake:
            options.setdefault("hold", 0)
            options.setdefault("timeout", 5)
            return await hold_connections("127.0.0.1", fake.port, "app", password, "app", **options), fake

    return asyncio.run(go())


def test_scram_matches_rfc_7677_test_vector() -> None:
    scram = ScramClient(b"pencil", {}, user="user", nonce=RFC_NONCE)
    assert scram.client_first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert scram.client_final(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    scram.verify_server_final(RFC_SERVER_FINAL)
    with pytest.raises(ClientFailure, match="^auth: bad server signature$"):
        scram.verify_server_final("v=" + base64.b64encode(bytes(32)).decode())


def test_scram_refuses_a_server_nonce_that_does_not_extend_ours() -> None:
    scram = ScramClient(b"pencil", {}, nonce="other")
    with pytest.raises(ClientFailure, match="^auth: bad server nonce$"):
        scram.client_final(RFC_SERVER_FIRST)


def test_scram_derives_the_salted_password_once_per_salt() -> None:
    salted: dict[tuple[bytes, int], bytes] = {}
    for _ in range(3):
        ScramClient(b"pencil", salted, user="user", nonce=RFC_NONCE).client_final(RFC_SERVER_FIRST)
    assert list(salted) == [(base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)]


def test_fifty_clients_connect_and_are_held(monkeypatch: pytest.MonkeyPatch) -> None:
    pbkdf2 = hashlib.pbkdf2_hmac
    derivations = []

    def counting_pbkdf2(*args: Any) -> bytes:
        derivations.append(args)
        return pbkdf2(*args)

    calls = []

    async def sampler() -> int:
        calls.append(1)
        return len(calls)

    async def go() -> tuple[HoldResult, FakePostgres]:
        async with fake_postgres() as fake:  # the server derives its keys before the count starts
            monkeypatch.setattr(hashlib, "pbkdf2_hmac", counting_pbkdf2)
            result = await hold_connections(
                "127.0.0.1", fake.port, "app", PASSWORD, "app", count=50, hold=0.3, sampler=sampler, sample_every=0.1
            )
            return result, fake

    result, fake = asyncio.run(go())
    assert (result.wanted, result.connected, result.held, result.peak_open) == (50, 50, 50, 50)
    assert result.failures == {}
    assert result.samples == list(range(1, len(calls) + 1)) and len(calls) >= 1
    assert result.hold_seconds >= 0.3
    assert len(derivations) == 1, "one PBKDF2 for all logins"
    assert fake.startups[0] == {"user": "app", "database": "app", "application_name": "pgstack-bench"}
    assert result.as_dict()["failures"] == {} and result.as_dict()["held"] == 50


def test_wrong_password_is_counted_with_its_sqlstate() -> None:
    result, _ = run("wrong password", count=3)
    assert result.failures == {'auth: 28P01 password authentication failed for user "app"': 3}
    assert (result.connected, result.held) == (0, 0)


def test_wrong_server_signature_is_counted() -> None:
    result, _ = run(count=3, bad_signature=True)
    assert result.failures == {"auth: bad server signature": 3}
    assert result.connected == 0


def test_other_authentication_methods_are_unsupported() -> None:
    result, _ = run(count=2, auth_code=3)  # AuthenticationCleartextPassword
    assert result.failures == {"auth: unsupported 3": 2}


def test_a_failing_sampler_is_recorded_and_the_hold_goes_on() -> None:
    async def sampler() -> object:
        raise RuntimeError("docker is gone")

    result, _ = run(count=2, hold=0.05, sampler=sampler, sample_every=1)
    assert result.samples == ["sampler error: RuntimeError: docker is gone"]
    assert result.held == 2


def test_a_closed_port_is_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free again once closed, and nothing listens there
    result = clients.hold("127.0.0.1", port, "app", PASSWORD, "app", count=2, hold=0, timeout=5)
    assert result.failures == {"refused": 2}
    assert (result.connected, result.held, result.peak_open) == (0, 0, 0)


@pytest.mark.parametrize(
    ("host", "message"),
    [("8.8.8.8", "neither loopback nor private"), ("localhost", "not an IP address"), ("db.example", "not an IP")],
)
def test_only_private_ip_literals_get_load(monkeypatch: pytest.MonkeyPatch, host: str, message: str) -> None:
    def no_connection(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(clients.asyncio, "open_connection", no_connection)
    with pytest.raises(ValueError, match=message):
        clients.hold(host, 6432, "app", PASSWORD, "app", count=1, hold=0)


def test_a_hard_descriptor_limit_below_the_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients.resource, "getrlimit", lambda _: (1024, 1024))
    monkeypatch.setattr(clients.resource, "setrlimit", pytest.fail)
    with pytest.raises(ValueError, match="RLIMIT_NOFILE hard limit \\(1024\\)"):
        clients.hold("127.0.0.1", 6432, "app", PASSWORD, "app", count=10_000)
