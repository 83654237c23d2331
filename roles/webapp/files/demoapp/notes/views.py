"""Endpoints that prove which path the app's database traffic takes."""

from __future__ import annotations

import json
import logging
import os
import socket
import time

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from notes.models import Note

logger = logging.getLogger(__name__)

# The longest transaction POST /notes/slow holds open, in seconds.
SLOW_MAX_SECONDS = 5.0


def _local_endpoint() -> tuple[str, int] | None:
    """The address and port of this process's end of the database socket."""
    raw = connection.connection
    if raw is None:
        return None
    sock = socket.socket(fileno=os.dup(raw.fileno()))
    try:
        name = sock.getsockname()
    finally:
        sock.close()
    if isinstance(name, tuple):
        return name[0], name[1]
    return None


def healthz(request: HttpRequest) -> JsonResponse:
    """A database round trip, and whether it went through the pooler.

    PostgreSQL reports the address and port of the client it talks to. When
    that is this process's own socket, the connection is direct; when it is
    someone else's, a pooler stands in between.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT host(inet_client_addr()), inet_client_port(), current_database(), current_user"
            )
            client_addr, client_port, database, user = cursor.fetchone()
            local = _local_endpoint()
    except Exception:  # noqa: BLE001 - any failure is the answer here
        # The error names internal addresses: it goes to the log, not to the caller.
        logger.exception("healthz: database round trip failed")
        return JsonResponse({"status": "error"}, status=503)
    seen = (client_addr, client_port)
    # The host and port of the connection made: with a list of hosts in
    # DATABASE_URL (webapp_pooler_fallback) that is the one that answered.
    info = connection.connection.info
    return JsonResponse(
        {
            "status": "ok",
            "via": "direct" if local == seen else "pgbouncer",
            "target": f"{info.host}:{info.port}",
            "database": database,
            "user": user,
            "db_sees_client": f"{client_addr}:{client_port}",
            "app_socket": f"{local[0]}:{local[1]}" if local else None,
        }
    )


@csrf_exempt
def notes(request: HttpRequest) -> JsonResponse:
    """GET: how many notes and the latest ones; POST: add one."""
    if request.method == "POST":
        body = _posted(request).get("body", "")
        if not body:
            return JsonResponse({"error": "body is required"}, status=400)
        note = Note.objects.create(body=body)
        return JsonResponse({"id": note.id, "body": note.body}, status=201)
    if request.method != "GET":
        return JsonResponse({"error": "method not allowed"}, status=405)
    latest = Note.objects.order_by("-id")[:20]
    return JsonResponse(
        {
            "count": Note.objects.count(),
            "latest": [{"id": n.id, "body": n.body, "created_at": n.created_at.isoformat()} for n in latest],
        }
    )


def _posted(request: HttpRequest) -> dict:
    """The fields of a POST, sent as a form or as JSON."""
    if request.content_type == "application/json":
        return json.loads(request.body or b"{}")
    return request.POST.dict()


@csrf_exempt
def slow_note(request: HttpRequest) -> JsonResponse:
    """POST body and seconds: add a note in a transaction that stays open that long.

    Insert, pg_sleep, commit, all in one transaction: through transaction
    pooling it holds one server connection for the whole time. The answer,
    201, comes only after the commit, so a note acknowledged is a note kept.
    """
    if request.method != "POST":
        return JsonResponse({"error": "method not allowed"}, status=405)
    fields = _posted(request)
    body = fields.get("body", "")
    try:
        seconds = float(fields.get("seconds", "1"))
    except (TypeError, ValueError):
        seconds = -1.0
    if not body or not 0 <= seconds <= SLOW_MAX_SECONDS:
        return JsonResponse({"error": f"body and seconds (0 to {SLOW_MAX_SECONDS:g}) are required"}, status=400)
    with transaction.atomic():
        note = Note.objects.create(body=body)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return JsonResponse({"id": note.id, "body": note.body, "seconds": seconds}, status=201)


def steps(request: HttpRequest) -> JsonResponse:
    """GET seconds: two transactions on one connection, that long apart.

    Between them the client keeps its connection to PgBouncer while no server
    connection is held (transaction pooling): a pooler that closes its
    clients once no transaction runs (a restart) fails this request; one
    that waits for its clients to leave (a drain) does not.
    """
    try:
        seconds = float(request.GET.get("seconds", "0.5"))
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= SLOW_MAX_SECONDS:
        return JsonResponse({"error": f"seconds (0 to {SLOW_MAX_SECONDS:g}) is required"}, status=400)
    first = Note.objects.count()
    time.sleep(seconds)
    return JsonResponse({"count": first, "then": Note.objects.count(), "seconds": seconds})
