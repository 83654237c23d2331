"""Settings for the pgstack demo app, read from the environment.

DATABASE_URL is the pooled path (PgBouncer); DATABASE_URL_DIRECT goes straight
to PostgreSQL and is what migrations and management commands use.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def database_from_url(url: str) -> dict[str, object]:
    """Django's settings from a postgres:// URL. libpq parameters in the query
    string (host=pooler,db&port=6432,5432&connect_timeout=2: a list of hosts
    tried in order) are passed on to the driver as they are."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": int(os.environ.get("DJANGO_CONN_MAX_AGE", "0")),
        # Transaction pooling hands each transaction to any server connection,
        # so a named cursor (server-side cursor) declared in one transaction may
        # be gone in the next: Django must not use them through PgBouncer.
        # psycopg 3's server_side_binding stays at its default (off): prepared
        # statements need PgBouncer >= 1.21 with max_prepared_statements.
        "DISABLE_SERVER_SIDE_CURSORS": True,
        "OPTIONS": {"connect_timeout": 5, **dict(parse_qsl(parts.query))},
    }


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"environment variable {name} is not set")
    return value


SECRET_KEY = required("DJANGO_SECRET_KEY")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "*").split(",")

INSTALLED_APPS = ["notes"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "demoapp.urls"
WSGI_APPLICATION = "demoapp.wsgi.application"

DATABASES = {"default": database_from_url(required("DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
