"""Hold many PostgreSQL client connections open through PgBouncer at once, and say what happened.

The question is whether PgBouncer keeps thousands of idle clients logged in, so the client side
must cost little: one process, one event loop, a few kilobytes per connection. libpq (and so
psycopg) would need a connection object or thread per client and runs SCRAM-SHA-256's 4096 PBKDF2
iterations for every login; this speaks the wire protocol itself with the standard library and
derives the SaltedPassword once per salt, which is the same for every login of one role.

Standard library only: scripts/bench copies this one file into the lab's bench container and runs
it there with Debian's python3 (``python3 clients.py --host=... --count=...``), printing the
result as one line of JSON.

Load goes only to test hosts: the host must be an IP literal in a private range (loopback,
RFC 1918, Docker's bridges), never a name that could resolve to somebody else's server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import errno
import hashlib
import hmac
import ipaddress
import json
import resource
import secrets
import struct
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

APPLICATION_NAME = "pgstack-bench"
PROTOCOL_VERSION = 3 << 16  # 3.0
MECHANISM = "SCRAM-SHA-256"
# No channel binding: the connections are plain TCP, and without TLS there is nothing to bind to.
GS2_HEADER = "n,,"
# Descriptors beyond one per connection: the interpreter's own files, the event loop, a sampler's.
FD_HEADROOM = 1000
FD_HEADROOM_MINIMUM = 100
# No answer to a login or to SELECT 1 comes near this; a larger length means the stream is garbage.
MAX_MESSAGE = 1 << 20
# AuthenticationRequest codes (PostgreSQL's protocol documentation, "Message Formats").
AUTH_OK, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 0, 10, 11, 12
# Messages that may come at any time and tell nothing this check needs.
ASYNC_MESSAGES = (b"S", b"N", b"A")  # ParameterStatus, NoticeResponse, NotificationResponse


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


SELECT_ONE = _message(b"Q", b"SELECT 1\x00")
ROW_ONE = struct.pack("!hi", 1, 1) + b"1"  # DataRow body: one column, one byte, "1"
TERMINATE = _message(b"X", b"")

Sampler = Callable[[], Awaitable[object]]


@dataclass
class HoldResult:
    """What happened to the connections of one hold_connections() run.

    A connection that was not held is counted once in ``failures``, under the first thing that
    went wrong with it, so ``sum(failures.values()) == wanted - held``.
    """

    wanted: int  # connections asked for
    connected: int  # authenticated and answered the first SELECT 1
    held: int  # of those, still open and answering the second SELECT 1 after the hold
    failures: dict[str, int]  # short error kind -> count
    connect_seconds: float  # from the first connect until the last connection was established or failed
    hold_seconds: float  # how long all were held
    peak_open: int  # the largest number of sockets open at once
    samples: list[object]  # what the sampler returned, in order

    def as_dict(self) -> dict[str, object]:
        """The fields by name (copies of the containers), for JSON."""
        result: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self)}
        result["failures"] = dict(self.failures)
        result["samples"] = list(self.samples)
        return result


class ClientFailure(Exception):
    """A failure already put into words: ``kind`` is the key HoldResult.failures counts it under."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scram_attributes(message: str) -> dict[str, str]:
    """``r=...,s=...,i=...`` as a dict; the values SCRAM sends here never contain a comma."""
    return {part[0]: part[2:] for part in message.split(",") if part[1:2] == "="}


class ScramClient:
    """The client side of one SCRAM-SHA-256 login (RFC 5802, RFC 7677), without channel binding.

    ``salted`` is shared by every login of a run, all with the same password: the SaltedPassword
    depends only on password, salt and iteration count, and the server sends the same salt and
    count to every login of a role, so a run pays for PBKDF2 once, not once per connection.
    ``nonce`` is random unless given, which only the RFC's test vector needs.
    """

    def __init__(
        self, password: bytes, salted: dict[tuple[bytes, int], bytes], *, user: str = "", nonce: str | None = None
    ) -> None:
        self.password = password
        self.salted = salted
        self.nonce = nonce or secrets.token_urlsafe(18)
        # PostgreSQL and PgBouncer take the user from the startup message and ignore this one;
        # libpq sends it empty.
        escaped = user.replace("=", "=3D").replace(",", "=2C")
        self.client_first_bare = f"n={escaped},r={self.nonce}"
        self.server_signature = b""

    def client_first(self) -> str:
        return GS2_HEADER + self.client_first_bare

    def client_final(self, server_first: str) -> str:
        """The client-final-message, with the proof; remembers the signature the server must send."""
        attributes = _scram_attributes(server_first)
        nonce = attributes.get("r", "")
        # The server's nonce extends ours: anything else is a replayed or foreign exchange.
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise ClientFailure("auth: bad server nonce")
        try:
            salt = base64.b64decode(attributes["s"], validate=True)
            iterations = int(attributes["i"])
        except (KeyError, ValueError) as exc:
            raise ClientFailure("auth: bad server-first message") from exc
        if iterations < 1:
            raise ClientFailure("auth: bad server-first message")
        key = (salt, iterations)
        if key not in self.salted:
            self.salted[key] = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        salted_password = self.salted[key]
        client_key = _hmac(salted_password, b"Client Key")
        without_proof = f"c={_b64(GS2_HEADER.encode())},r={nonce}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode()
        client_signature = _hmac(hashlib.sha256(client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        self.server_signature = _hmac(_hmac(salted_password, b"Server Key"), auth_message)
        return f"{without_proof},p={_b64(proof)}"

    def verify_server_final(self, server_final: str) -> None:
        """Raise unless the server proved it knows the verifier: otherwise anyone could play PgBouncer."""
        attributes = _scram_attributes(server_final)
        if "e" in attributes:
            raise ClientFailure(f"auth: scram error {attributes['e'][:80]}")
        try:
            signature = base64.b64decode(attributes.get("v", ""), validate=True)
        except ValueError:
            signature = b""
        if not self.server_signature or not hmac.compare_digest(signature, self.server_signature):
            raise ClientFailure("auth: bad server signature")


def _error_kind(phase: str, body: bytes) -> str:
    """``<phase>: <SQLSTATE> <message>`` from an ErrorResponse's fields."""
    error = {item[:1]: item[1:].decode("utf-8", "replace") for item in body.split(b"\x00") if item}
    return f"{phase}: {error.get(b'C', '?????')} {error.get(b'M', '')[:80]}"


def _kind(exc: BaseException) -> str:
    """The short name a failure is counted under."""
    if isinstance(exc, ClientFailure):
        return exc.kind
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is the same class since 3.11
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionError | asyncio.IncompleteReadError):  # reset, aborted, broken pipe, EOF
        return "closed"
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return "too many open files"
    if isinstance(exc, OSError):
        return f"os error: {errno.errorcode.get(exc.errno or 0, exc.errno)}"
    return "protocol: malformed message"  # struct.error: a message shorter than its type needs


_CONNECTION_ERRORS = (OSError, asyncio.IncompleteReadError, struct.error, ClientFailure)


class _Connection:
    """One client connection: just its streams, so that 10,000 of them stay small."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read(self) -> tuple[bytes, bytes]:
        """The next backend message: its type byte and its body."""
        header = await self.reader.readexactly(5)
        length = int.from_bytes(header[1:], "big")
        if not 4 <= length <= MAX_MESSAGE:
            raise ClientFailure("protocol: bad message length")
        return header[:1], await self.reader.readexactly(length - 4)


class _Run:
    """What every connection of one run shares: where to go, how to log in, the tallies."""

    def __init__(
        self, host: str, port: int, user: str, password: str, database: str, concurrency: int, timeout: float
    ) -> None:
        self.host = host
        self.port = port
        params = {"user": user, "database": database, "application_name": APPLICATION_NAME}
        body = b"".join(name.encode() + b"\x00" + value.encode() + b"\x00" for name, value in params.items())
        # The StartupMessage alone has no type byte before its length.
        self.startup = _message(b"", struct.pack("!i", PROTOCOL_VERSION) + body + b"\x00")
        self.password = password.encode()
        self.salted: dict[tuple[bytes, int], bytes] = {}
        self.gate = asyncio.Semaphore(concurrency)
        self.timeout = timeout
        self.failures: Counter[str] = Counter()
        self.open = 0
        self.peak_open = 0

    async def connect(self) -> _Connection | None:
        """Open, log in and SELECT 1 once; None, with the failure counted, when a step fails."""
        conn = None
        try:
            async with self.gate:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
                conn = _Connection(reader, writer)
                self.open += 1
                self.peak_open = max(self.peak_open, self.open)
                await asyncio.wait_for(self._login(conn), self.timeout)
                await asyncio.wait_for(self._select_one(conn, "query"), self.timeout)
        except _CONNECTION_ERRORS as exc:
            self.failures[_kind(exc)] += 1
            if conn is not None:
                self._abort(conn)
            return None
        return conn

    async def recheck(self, conn: _Connection) -> bool:
        """Whether a held connection still answers SELECT 1; if not, it is counted and dropped."""
        try:
            async with self.gate:
                await asyncio.wait_for(self._select_one(conn, "hold"), self.timeout)
        except _CONNECTION_ERRORS as exc:
            self.failures[_kind(exc)] += 1
            self._abort(conn)
            return False
        return True

    async def close(self, conn: _Connection) -> None:
        """Say goodbye with Terminate, so PgBouncer logs a client that left, not one that vanished."""
        conn.writer.write(TERMINATE)
        conn.writer.close()
        self.open -= 1
        try:
            await asyncio.wait_for(conn.writer.wait_closed(), self.timeout)
        except OSError:  # TimeoutError included: the result is in, the socket just has to go
            conn.writer.transport.abort()

    def _abort(self, conn: _Connection) -> None:
        conn.writer.transport.abort()
        self.open -= 1

    async def _login(self, conn: _Connection) -> None:
        """StartupMessage, SCRAM-SHA-256, then everything up to ReadyForQuery."""
        await conn.send(self.startup)
        scram: ScramClient | None = None
        verified = authenticated = False
        while True:
            kind, body = await conn.read()
            if kind == b"R":
                (code,) = struct.unpack_from("!i", body)
                payload = body[4:]
                if code == AUTH_SASL:
                    if MECHANISM.encode() not in payload.split(b"\x00"):
                        raise ClientFailure("auth: SCRAM-SHA-256 not offered")
                    scram = ScramClient(self.password, self.salted)
                    first = scram.client_first().encode()  # in a SASLInitialResponse, after the mechanism
                    initial = MECHANISM.encode() + b"\x00" + struct.pack("!i", len(first)) + first
                    await conn.send(_message(b"p", initial))
                elif code == AUTH_SASL_CONTINUE and scram is not None:
                    await conn.send(_message(b"p", scram.client_final(payload.decode("ascii", "replace")).encode()))
                elif code == AUTH_SASL_FINAL and scram is not None:
                    scram.verify_server_final(payload.decode("ascii", "replace"))
                    verified = True
                elif code == AUTH_OK:
                    # An AuthenticationOk that skips SASLFinal would let a server in without proof.
                    if scram is not None and not verified:
                        raise ClientFailure("auth: no server signature")
                    authenticated = True
                else:
                    raise ClientFailure(f"auth: unsupported {code}")
            elif kind == b"E":
                raise ClientFailure(_error_kind("auth", body))
            elif kind == b"Z" and authenticated:
                return
            elif kind != b"K" and kind not in ASYNC_MESSAGES:  # BackendKeyData: only for cancelling
                raise ClientFailure(f"auth: unexpected message {kind.decode('ascii', 'replace')!r}")

    async def _select_one(self, conn: _Connection, phase: str) -> None:
        """SELECT 1 up to ReadyForQuery; it must have brought back the row "1"."""
        await conn.send(SELECT_ONE)
        answered = False
        while True:
            kind, body = await conn.read()
            if kind == b"D":
                answered = body == ROW_ONE
            elif kind == b"E":
                raise ClientFailure(_error_kind(phase, body))
            elif kind == b"Z":
                if not answered:
                    raise ClientFailure(f"{phase}: no row 1")
                return
            elif kind not in (b"T", b"C", *ASYNC_MESSAGES):  # RowDescription, CommandComplete
                raise ClientFailure(f"{phase}: unexpected message {kind.decode('ascii', 'replace')!r}")


def _check_arguments(host: str, user: str, password: str, database: str, positive: dict[str, float]) -> None:
    """Refuse what would send load where it must not go, or could not work, before any socket."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"host {host!r} is not an IP address: load goes only to test hosts, and a name could resolve anywhere"
        ) from None
    if not address.is_private:
        raise ValueError(f"host {host} is neither loopback nor private: load goes only to test hosts")
    if "\x00" in user + database:
        raise ValueError("user and database must not contain NUL characters")
    # Only ASCII is used as it is: PostgreSQL runs other passwords through SASLprep, which this
    # standard-library-only file does not carry, so their logins would fail for a wrong reason.
    if not password.isascii():
        raise ValueError("only ASCII passwords are supported (others need SASLprep)")
    for name, value in positive.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, not {value}")


def _raise_descriptor_limit(count: int) -> None:
    """Make room for one descriptor per connection; the default soft limit is often 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if hard != unlimited and hard < count + FD_HEADROOM_MINIMUM:
        raise ValueError(
            f"the RLIMIT_NOFILE hard limit ({hard}) is too low for {count} connections: it needs at least"
            f" {count + FD_HEADROOM_MINIMUM} (ulimit -Hn, or the container's nofile ulimit)"
        )
    wanted = count + FD_HEADROOM if hard == unlimited else min(hard, count + FD_HEADROOM)
    if soft != unlimited and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _sample(sampler: Sampler, timeout: float) -> object:
    try:
        return await asyncio.wait_for(sampler(), timeout)
    except Exception as exc:  # noqa: BLE001 - a broken sampler must not end the hold; its error is the sample
        return f"sampler error: {type(exc).__name__}: {exc}"


async def _hold_still(
    seconds: float, sampler: Sampler | None, every: float, timeout: float
) -> tuple[list[object], float]:
    """Wait ``seconds``, sampling from the start every ``every`` seconds; (samples, seconds held).

    A sample is awaited to its end rather than cut off, so a slow sampler can stretch the hold;
    the seconds returned are the ones measured.
    """
    started = time.monotonic()
    deadline = started + seconds
    samples: list[object] = []
    next_sample = started
    while (now := time.monotonic()) < deadline:
        if sampler is not None and now >= next_sample:
            samples.append(await _sample(sampler, timeout))
            next_sample += every
        else:
            await asyncio.sleep((deadline if sampler is None else min(deadline, next_sample)) - now)
    return samples, time.monotonic() - started


async def hold_connections(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    *,
    count: int = 10_000,
    hold: float = 10.0,
    concurrency: int = 200,
    timeout: float = 30.0,
    sampler: Sampler | None = None,
    sample_every: float = 2.0,
) -> HoldResult:
    """Open ``count`` logged-in connections, hold them ``hold`` seconds, check them, close them.

    At most ``concurrency`` logins are in flight at once, so the pooler sees a steady stream
    rather than 10,000 SYNs at the same instant; every network step is bounded by ``timeout``.
    Failures are counted by kind, never raised; ValueError means nothing was sent.
    """
    if hold < 0:
        raise ValueError(f"hold must not be negative, not {hold}")
    positive = {"count": count, "concurrency": concurrency, "timeout": timeout, "sample_every": sample_every}
    _check_arguments(host, user, password, database, positive)
    _raise_descriptor_limit(count)
    run = _Run(host, port, user, password, database, concurrency, timeout)
    started = time.monotonic()
    attempts = await asyncio.gather(*(run.connect() for _ in range(count)))
    connect_seconds = time.monotonic() - started
    connected = [conn for conn in attempts if conn is not None]
    samples, hold_seconds = await _hold_still(hold, sampler, sample_every, timeout)
    answers = await asyncio.gather(*(run.recheck(conn) for conn in connected))
    held = [conn for conn, answered in zip(connected, answers, strict=True) if answered]
    await asyncio.gather(*(run.close(conn) for conn in held))
    return HoldResult(
        wanted=count,
        connected=len(connected),
        held=len(held),
        failures=dict(run.failures),
        connect_seconds=connect_seconds,
        hold_seconds=hold_seconds,
        peak_open=run.peak_open,
        samples=samples,
    )


def hold(host: str, port: int, user: str, password: str, database: str, **kwargs: Any) -> HoldResult:
    """hold_connections() for callers without an event loop."""
    return asyncio.run(hold_connections(host, port, user, password, database, **kwargs))


def main(argv: Sequence[str] | None = None) -> int:
    """Command line for the bench container: the result as one line of JSON on stdout.

    The password comes from a file, never from the command line, where ``ps`` would show it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="an IP address in a private range")
    parser.add_argument("--port", type=int, default=6432)
    parser.add_argument("--user", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--password-file", required=True, help="the password, one line")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=200, help="logins in flight at once")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per network step")
    args = parser.parse_args(argv)
    with open(args.password_file, encoding="utf-8") as file:
        password = file.read().rstrip("\r\n")
    try:
        result = hold(
            args.host, args.port, args.user, password, args.database,
            count=args.count, hold=args.hold, concurrency=args.concurrency, timeout=args.timeout,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(result.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
