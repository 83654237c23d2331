"""Every value the roles write into a file, checked against that file's grammar.

A value that reaches pgbouncer.ini, userlist.txt, pg_hba.conf, postgresql.conf,
a Compose file, a systemd unit or an environment file unchecked can write a new
line, a new list entry or an unterminated quote there. Each role's preflight
(roles/*/tasks/assert.yml) passes its variables to one of the filters below and
stops on the first problem returned: one short sentence naming the variable
(and list entry or key) that is wrong. A secret is named, its value never shown.
Wrong types are problems too, never exceptions: the argument specs convert a
value only to validate it, so a string still arrives where a list is expected.
"""

from __future__ import annotations

import ipaddress
import keyword
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

# A rule says why a value is wrong, or returns None when it is right.
Rule = Callable[[Any], "str | None"]

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
LINE_BREAK = re.compile(r"[\x00\r\n]")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
# PostgreSQL names as the roles write them unquoted (SQL, pg_hba.conf): lower
# case, at most NAMEDATALEN - 1 = 63 bytes.
SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Names PgBouncer reads as pgbouncer.ini keys, in connection strings, in its
# comma-separated lists (admin_users, stats_users) and in userlist.txt.
POOLER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
# Absolute paths as systemd units and the file tasks take them: no spaces, no
# quotes, no % (a systemd specifier), no $ or backslash.
SAFE_PATH = re.compile(r"/[A-Za-z0-9._@+/-]*")
# A URL path (webapp_health_path), a relative file in the project, a pip
# requirement, a pip location: one word each (pip's options are one string).
URL_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
RELATIVE_FILE = re.compile(r"(?!/)(?!.*(?:^|/)\.\.(?:/|$))[A-Za-z0-9._@+/-]+")
_VERSION_CLAUSE = r"[<>=!~]=?[A-Za-z0-9.*+!_-]+"
REQUIREMENT = re.compile(
    rf"[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[A-Za-z0-9._,-]+\])?(?:{_VERSION_CLAUSE}(?:,{_VERSION_CLAUSE})*)?"
)
PIP_LOCATION = re.compile(r"[^\s'\"]+")
ENV_NAME = re.compile(_IDENTIFIER)
DOTTED = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})*")
UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
SYSTEM_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# postgresql.conf names (a custom one has one dot), and pgbouncer.ini's.
GUC_NAME = re.compile(rf"{_IDENTIFIER}(?:\.{_IDENTIFIER})?")
POOLER_SETTING = re.compile(r"[a-z_][a-z0-9_]*")
STARTUP_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
# Docker's image reference: [registry[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(
    rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?"
)

# PostgreSQL's reserved key words: no unquoted role or database name.
SQL_RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column constraint"
    " create current_catalog current_date current_role current_time current_timestamp current_user default"
    " deferrable desc distinct do else end except false fetch for foreign from grant group having in"
    " initially intersect into lateral leading limit localtime localtimestamp not null offset on only or"
    " order placing primary references returning select session_user some symmetric system_user table then"
    " to trailing true union unique user using variadic when where window with".split()
)
# Key words of pg_hba.conf's DATABASE and USER columns.
HBA_DATABASE_WORDS = frozenset({"all", "sameuser", "samerole", "samegroup", "replication"})
HBA_USER_WORDS = frozenset({"all"})

# postgresql.conf settings the postgres role writes itself: pgstack.conf.j2
# with vars/*.yml's __postgres_managed_settings, and the db service's command
# line in compose.db.yaml.j2. postgres_settings is combined over them, so one
# of these there would silently win.
POSTGRES_MANAGED = frozenset(
    {"listen_addresses", "port", "max_connections", "password_encryption", "hba_file", "config_file"}
)
# Written by the role itself with postgres_tls on (vars/main.yml).
POSTGRES_TLS_MANAGED = frozenset({"ssl", "ssl_cert_file", "ssl_key_file"})
# Directives and locations that would make PostgreSQL read other files than
# those the role writes.
POSTGRES_ELSEWHERE = frozenset({"include", "include_dir", "include_if_exists", "data_directory"})
# Read by the preflight's connection budget (roles/postgres/tasks/budget.yml).
POSTGRES_RESERVED_CONNECTIONS = frozenset({"superuser_reserved_connections", "reserved_connections"})
# [pgbouncer] settings pgbouncer.ini.j2 writes itself.
PGBOUNCER_MANAGED = frozenset(
    {
        "listen_addr", "listen_port", "unix_socket_dir", "logfile", "pidfile", "auth_type", "auth_file",
        "admin_users", "stats_users", "pool_mode", "max_client_conn", "default_pool_size", "min_pool_size",
        "reserve_pool_size", "reserve_pool_timeout", "max_db_connections", "max_prepared_statements",
        "server_idle_timeout", "server_lifetime", "query_wait_timeout", "client_idle_timeout",
        "idle_transaction_timeout", "server_login_retry", "ignore_startup_parameters", "so_reuseport", "peer_id",
        "auth_user", "auth_query", "auth_dbname", "auth_hba_file",
    }
)
# Written by pgbouncer.ini.j2 with pgbouncer_client_tls, pgbouncer_server_tls on.
PGBOUNCER_TLS_MANAGED = {
    "pgbouncer_client_tls": frozenset({"client_tls_sslmode", "client_tls_cert_file", "client_tls_key_file"}),
    "pgbouncer_server_tls": frozenset({"server_tls_sslmode", "server_tls_ca_file"}),
}
# Variables env.j2 writes itself.
WEBAPP_MANAGED_ENV = frozenset(
    {
        "DATABASE_URL", "DATABASE_URL_DIRECT", "DATABASE_URL_POOLED", "DJANGO_SECRET_KEY",
        "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOWED_HOSTS", "DJANGO_CONN_MAX_AGE",
    }
)
# The fields of a pgbouncer_databases entry that pgbouncer.ini.j2 writes.
DATABASE_KEYS = ("name", "dbname", "host", "port", "pool_size", "pool_mode")
USER_KEYS = ("name", "password")
POOL_MODES = ("session", "transaction", "statement")
PGBOUNCER_COUNTS = ("pgbouncer_max_client_conn", "pgbouncer_default_pool_size")
PGBOUNCER_NON_NEGATIVE = (
    "pgbouncer_min_pool_size", "pgbouncer_reserve_pool_size", "pgbouncer_reserve_pool_timeout",
    "pgbouncer_max_db_connections", "pgbouncer_server_idle_timeout", "pgbouncer_server_lifetime",
    "pgbouncer_query_wait_timeout", "pgbouncer_client_idle_timeout", "pgbouncer_idle_transaction_timeout",
    "pgbouncer_max_prepared_statements", "pgbouncer_server_login_retry",
)


def kind(value: Any) -> str:
    """What a value is, without the value itself."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def show(value: Any) -> str:
    """A value that is not secret, as a message shows it: a string quoted, escaped, shortened."""
    if isinstance(value, str):
        quoted = repr(str(value))
        return quoted if len(quoted) <= 42 else quoted[:40] + "..."
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return kind(value)


def label(name: str, key: Any) -> str:
    """name[index], name.key for a plain key, name['odd key'] otherwise."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{name}[{key}]"
    if isinstance(key, str) and re.fullmatch(_IDENTIFIER, key):
        return f"{name}.{key}"
    return f"{name}[{show(key)}]"


def whole(value: Any) -> int | None:
    """An int, or a string of digits (as -e gives them); never a boolean or a float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    return None


def integer(low: int, high: int | None = None) -> Rule:
    span = f"{low}-{high}" if high is not None else f"{low} or more"

    def rule(value: Any) -> str | None:
        number = whole(value)
        if number is None:
            return f"must be a whole number ({span}), got {show(value)}"
        if number < low or (high is not None and number > high):
            return f"must be {span}, got {number}"
        return None

    return rule


PORT = integer(1, 65535)
# pgbouncer_processes: a peer_id each, one per core at most is what makes sense.
PROCESSES = integer(1, 64)
# pgbouncer_peers: peer_id is 100 x the host's place + the process, at most 16383.
MAX_PEER_HOSTS = 163
LOAD_BALANCE_NEEDS = "needs webapp_pooler_fallback off: libpq would shuffle PostgreSQL in with the poolers"
COUNT = integer(1)
NON_NEGATIVE = integer(0)


def text(pattern: re.Pattern[str], what: str, taken: Mapping[str, str] | None = None) -> Rule:
    """A string matching pattern; taken maps the matching values that are refused to why."""

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {what}, got {show(value)}"
        if not pattern.fullmatch(value):
            return f"{show(value)} is not {what}"
        if taken and value.lower() in taken:
            return f"{show(value)} {taken[value.lower()]}"
        return None

    return rule


def secret(min_length: int) -> Rule:
    """A password or key; its value is never part of the reason."""

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {kind(value)} (value not shown)"
        if min_length and not value:
            return "must be set (value not shown)"
        if len(value) < min_length:
            return f"must be at least {min_length} characters (value not shown)"
        if LINE_BREAK.search(value):
            return "must not contain a line break (value not shown)"
        return None

    return rule


def string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {show(value)}"


def choice(options: Iterable[str]) -> Rule:
    allowed = tuple(options)

    def rule(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}, got {show(value)}"

    return rule


def is_true(value: Any) -> bool:
    """As Ansible's bool filter reads a value (-e gives strings)."""
    return str(value).strip().lower() in ("true", "yes", "on", "1", "y", "t")


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host(value: Any) -> str | None:
    """A host name or an IP address."""
    if isinstance(value, str) and (is_ip(value) or HOSTNAME.fullmatch(value)):
        return None
    return f"{show(value)} is not a host name or IP address"


def url_host(value: Any) -> str | None:
    """A host as a URL or a bind address takes it: an IPv6 address in brackets."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]") and ":" in value:
        return None if is_ip(value[1:-1]) else f"{show(value)} is not an IPv6 address in brackets"
    if isinstance(value, str) and ":" in value and is_ip(value):
        return f"{show(value)} is an IPv6 address: write it in brackets"
    return host(value)


def pooler_host(value: Any) -> str | None:
    """host= in pgbouncer.ini: a host, or the directory of PostgreSQL's Unix socket."""
    if isinstance(value, str) and value.startswith("/"):
        return path(value)
    return host(value)


def inventory_host(hosts: Iterable[str] | None, what: str = "an inventory host") -> Rule:
    """A name of the inventory, or of one of its groups (when it is known)."""
    known = set(hosts or ())

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be {what}, got {show(value)}"
        return f"{show(value)} is not {what}" if known and value not in known else None

    return rule


def listen_addr(value: Any) -> str | None:
    """listen_addr in pgbouncer.ini: *, or addresses and host names separated by commas."""
    if isinstance(value, str) and all(item.strip(" ") == "*" or not host(item.strip(" ")) for item in value.split(",")):
        return None
    return f"{show(value)} is not * or addresses separated by commas"


def path(value: Any) -> str | None:
    if not isinstance(value, str) or not value.startswith("/"):
        return f"{show(value)} is not an absolute path"
    if not SAFE_PATH.fullmatch(value):
        return f"{show(value)} may hold only letters, digits and . _ - + @ /"
    return None


def own_directory(value: Any, of_file: bool = False) -> str | None:
    """A path whose directory the role creates and sets the owner and mode of: never / or /etc itself."""
    reason = path(value)
    if reason:
        return reason
    directory = PurePosixPath(value).parent if of_file else PurePosixPath(value)
    if len(directory.parts) < 3:
        return f"{show(value)}: the role sets the mode of {str(directory)!r}; use a directory of its own"
    return None


def image(value: Any) -> str | None:
    return None if isinstance(value, str) and IMAGE.fullmatch(value) else f"{show(value)} is not a Docker image name"


def module(allow_callable: bool) -> Rule:
    """A dotted Python module name; for gunicorn also module:callable."""

    def rule(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a dotted Python module name, got {show(value)}"
        name, colon, attribute = value.partition(":") if allow_callable else (value, "", "")
        if not DOTTED.fullmatch(name) or (colon and not re.fullmatch(_IDENTIFIER, attribute)):
            return f"{show(value)} is not a dotted Python module name"
        if any(keyword.iskeyword(part) for part in [*name.split("."), attribute]):
            return f"{show(value)} has a Python keyword in it"
        return None

    return rule


def allowed_host(value: Any) -> str | None:
    """A Django ALLOWED_HOSTS entry: *, a host, .domain or an IP address; never a comma."""
    if not isinstance(value, str):
        return f"must be a host name, got {show(value)}"
    pattern = value[1:] if value.startswith(".") else value
    if value == "*" or (pattern and url_host(pattern) is None):
        return None
    return f"{show(value)} is not *, a host name, .domain or IP address"


def hba_address(value: Any) -> str | None:
    """pg_hba.conf's ADDRESS column: an address with its CIDR mask, a host name or .domain."""
    if not isinstance(value, str):
        return f"must be an address/mask or a host name, got {show(value)}"
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"{show(value)} is not an address/mask"
        return None
    if is_ip(value):
        return f"{show(value)} needs its mask, e.g. {value}/{128 if ':' in value else 32}"
    name = value[1:] if value.startswith(".") else value
    return None if HOSTNAME.fullmatch(name) else f"{show(value)} is not an address/mask or a host name"


def network(value: Any) -> str | None:
    """PgBouncer's hba ADDRESS column: an address with its mask (no host names)."""
    if not isinstance(value, str):
        return f"must be an address/mask such as 10.0.0.5/32, got {show(value)}"
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{show(value)} is not an address/mask such as 10.0.0.5/32"
    return None if "/" in value else f"{show(value)} needs its mask, e.g. {value}/{128 if ':' in value else 32}"


def setting_value(value: Any, forbidden: str = "") -> str | None:
    """A value written after 'name = ' on one line of a configuration file."""
    if value is None or isinstance(value, Mapping | list | tuple):
        return f"must be a string or a number, got {show(value)}"
    if isinstance(value, str):
        if CONTROL.search(value):
            return f"{show(value)} has a line break or control character"
        bad = sorted({character for character in value if character in forbidden})
        if bad:
            return f"{show(value)} must not contain {' or '.join(bad)} (it is written unescaped in quotes)"
    return None


def _taken(words: Iterable[str], why: str) -> dict[str, str]:
    return dict.fromkeys(words, why)


DATABASE_NAME = text(
    SQL_NAME,
    "a lower-case SQL name",
    {**_taken(SQL_RESERVED, "is an SQL key word"), **_taken(HBA_DATABASE_WORDS, "is a pg_hba.conf key word")},
)
ROLE_NAME = text(
    SQL_NAME,
    "a lower-case SQL name",
    {
        **_taken(SQL_RESERVED, "is an SQL key word"),
        **_taken(HBA_USER_WORDS, "is a pg_hba.conf key word"),
        "postgres": "is the superuser; the app needs a role of its own",
    },
)
POOLER_NAME_RULE = text(POOLER_NAME, "a name of letters, digits and _ . -")


class Checker:
    """Collects problems as '<variable>: <reason>'."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.problems: list[str] = []

    def add(self, where: str, reason: str | None) -> bool:
        """Records a reason, if any; True when there was none."""
        if reason:
            self.problems.append(f"{where}: {reason}")
        return not reason

    def secret_when_on(self, switch: str, name: str) -> bool:
        """With ``switch`` on, ``name`` must hold a secret (named, never shown); whether it is on."""
        if not is_true(self.values.get(switch)):
            return False
        if self.values.get(name) in ("", None):
            self.add(switch, f"is on, but {name} is empty")
        else:
            self.check(name, secret(12))
        return True

    def check(self, name: str, rule: Rule) -> bool:
        return self.add(name, rule(self.values.get(name)))

    def tls_files(self, switch: str, prefix: str) -> None:
        """With ``switch`` on and the user's CA given (<prefix>_ca_file), the
        server's certificate and key must be given too; the names the
        collection's certificate is for must be host names or addresses."""
        if not is_true(self.values.get(switch)):
            return
        self.sequence(f"{prefix}_names", host)
        if self.values.get(f"{prefix}_ca_file") in ("", None):
            return
        self.check(f"{prefix}_ca_file", path)
        for name in (f"{prefix}_cert_file", f"{prefix}_key_file"):
            if self.values.get(name) in ("", None):
                self.add(name, f"is empty, but {prefix}_ca_file is set: give this server's certificate and key too")
            else:
                self.check(name, path)

    def sequence(self, name: str, rule: Rule | None = None, required: bool = False) -> list[Any]:
        """A list whose every entry follows rule; its entries, or none if it is not a list."""
        value = self.values.get(name)
        if not isinstance(value, list | tuple):
            self.add(name, f"must be a list, got {show(value)}")
            return []
        if required and not value:
            self.add(name, "must have at least one entry")
        for index, entry in enumerate(value):
            if rule is not None:
                self.add(label(name, index), rule(entry))
        return list(value)

    def mapping(self, name: str) -> Mapping[Any, Any]:
        value = self.values.get(name)
        if not isinstance(value, Mapping):
            self.add(name, f"must be a mapping, got {show(value)}")
            return {}
        return value

    def entries(self, name: str, keys: tuple[str, ...]) -> list[tuple[str, Mapping[Any, Any]]]:
        """The entries of a required list of mappings, with their labels; a name in each."""
        found = []
        for index, entry in enumerate(self.sequence(name, required=True)):
            where = label(name, index)
            if not isinstance(entry, Mapping):
                self.add(where, f"must be a mapping with {' and '.join(keys[:2])}, got {show(entry)}")
                continue
            unknown = [key for key in entry if key not in keys]
            if unknown:
                self.add(where, f"unknown key {show(unknown[0])}; known: {', '.join(keys)}")
            if "name" not in entry:
                self.add(label(where, "name"), "is missing")
            found.append((where, entry))
        return found

    def unique_names(self, entries: list[tuple[str, Mapping[Any, Any]]]) -> set[str]:
        seen: set[str] = set()
        for where, entry in entries:
            name = entry.get("name")
            if isinstance(name, str) and name in seen:
                self.add(label(where, "name"), f"{show(name)} appears twice")
            elif isinstance(name, str):
                seen.add(name)
        return seen


def postgres_problems(values: Mapping[str, Any], inventory_hosts: Iterable[str] | None = None) -> list[str]:
    """Problems with the postgres role's variables; inventory_hosts are the names of the inventory."""
    check = Checker(values)
    docker = values.get("postgres_mode") == "docker"
    check.check("postgres_app_db_name", DATABASE_NAME)
    if check.check("postgres_app_db_user", ROLE_NAME) and str(values["postgres_app_db_user"]).startswith("pg_"):
        check.add("postgres_app_db_user", f"{show(values['postgres_app_db_user'])}: pg_ names are PostgreSQL's own")
    check.check("postgres_app_db_password", secret(12))
    check.sequence("postgres_listen_addresses", lambda address: None if address == "*" else host(address))
    check.check("postgres_port", PORT)
    check.check("postgres_max_connections", integer(1, 262143))
    check.sequence("postgres_client_hosts", inventory_host(inventory_hosts))
    check.sequence("postgres_client_addresses", hba_address)
    for key, value in check.mapping("postgres_settings").items():
        where = label("postgres_settings", key)
        if not isinstance(key, str) or not GUC_NAME.fullmatch(key):
            check.add(where, "is not a PostgreSQL setting name")
        elif key.lower() in POSTGRES_MANAGED:
            check.add(where, "is written by the role itself and cannot be set here")
        elif is_true(values.get("postgres_tls")) and key.lower() in POSTGRES_TLS_MANAGED:
            check.add(where, "is written by the role itself with postgres_tls on")
        elif key.lower() in POSTGRES_ELSEWHERE:
            check.add(where, "would make PostgreSQL read other files than the role writes")
        elif key.lower() in POSTGRES_RESERVED_CONNECTIONS:
            check.add(where, NON_NEGATIVE(value))
        else:
            check.add(where, setting_value(value, "'\\"))
    check.check("postgres_docker_project_dir", own_directory)
    check.check("postgres_docker_image", image)
    check.check("postgres_docker_base_image", image)
    # Only Docker mode uses it (the superuser logs in by peer on a host).
    check.check("postgres_superuser_password", secret(12 if docker else 0))
    app_user = values.get("postgres_app_db_user")
    taken = {app_user: "the application role"} if isinstance(app_user, str) else {}
    for name in ("postgres_auth_user", "postgres_auth_group"):
        role = values.get(name)
        if not check.check(name, ROLE_NAME):
            continue
        if str(role).startswith("pg_"):
            check.add(name, f"{show(role)}: pg_ names are PostgreSQL's own")
        elif role in taken:
            check.add(name, f"{show(role)} is {taken[role]}; it needs a name of its own")
        taken[role] = name
    check.secret_when_on("postgres_auth_query", "postgres_auth_user_password")
    check.tls_files("postgres_tls", "postgres_tls")
    return check.problems


def pgbouncer_problems(
    values: Mapping[str, Any],
    postgres_hosts: Iterable[str] | None = None,
    pooler_hosts: Iterable[str] | None = None,
    this_host: str | None = None,
) -> list[str]:
    """Problems with the pgbouncer role's variables.

    postgres_hosts and pooler_hosts are the inventory's groups postgres and
    pgbouncer, this_host the host whose variables these are.
    """
    check = Checker(values)
    check.check("pgbouncer_listen_addr", listen_addr)
    check.check("pgbouncer_listen_port", PORT)
    for name in PGBOUNCER_COUNTS:
        check.check(name, COUNT)
    for name in PGBOUNCER_NON_NEGATIVE:
        check.check(name, NON_NEGATIVE)
    check.sequence("pgbouncer_ignore_startup_parameters", text(STARTUP_PARAMETER, "a startup parameter name"))
    check.check("pgbouncer_postgres_host", inventory_host(postgres_hosts, "a host of group postgres"))
    check.check("pgbouncer_db_host", pooler_host)
    check.check("pgbouncer_db_port", PORT)

    databases = check.entries("pgbouncer_databases", DATABASE_KEYS)
    rules = {
        "name": POOLER_NAME_RULE, "dbname": POOLER_NAME_RULE, "host": pooler_host, "port": PORT,
        "pool_size": COUNT, "pool_mode": choice(POOL_MODES),
    }
    for where, entry in databases:
        for key, rule in rules.items():
            if key in entry:
                check.add(label(where, key), rule(entry[key]))
        if entry.get("name") == "pgbouncer":
            check.add(label(where, "name"), "'pgbouncer' is PgBouncer's admin console")
    check.unique_names(databases)

    users = check.entries("pgbouncer_users", USER_KEYS)
    for where, entry in users:
        if "name" in entry:
            check.add(label(where, "name"), POOLER_NAME_RULE(entry["name"]))
        if "password" not in entry:
            check.add(label(where, "password"), "is missing")
        else:
            check.add(label(where, "password"), secret(12)(entry["password"]))
    user_names = check.unique_names(users)

    admin = values.get("pgbouncer_admin_user")
    if check.check("pgbouncer_admin_user", POOLER_NAME_RULE) and admin in user_names:
        check.add("pgbouncer_admin_user", f"{show(admin)} is also an app user; the admin needs a name of its own")
    check.check("pgbouncer_admin_password", secret(12))
    check.sequence("pgbouncer_stats_users", POOLER_NAME_RULE)
    check.sequence("pgbouncer_stats_addresses", network)
    auth_user = values.get("pgbouncer_auth_user")
    listed = user_names | ({admin} if isinstance(admin, str) else set())
    if check.check("pgbouncer_auth_user", POOLER_NAME_RULE) and auth_user in listed:
        check.add("pgbouncer_auth_user", f"{show(auth_user)} is also in userlist.txt; it needs a name of its own")
    if check.secret_when_on("pgbouncer_auth_query", "pgbouncer_auth_user_password"):
        dbname = values.get("pgbouncer_auth_dbname")
        if dbname not in [entry.get("name") for _, entry in databases]:
            check.add("pgbouncer_auth_dbname", f"{show(dbname)} is no name of pgbouncer_databases")
    for key, value in check.mapping("pgbouncer_settings").items():
        where = label("pgbouncer_settings", key)
        if not isinstance(key, str) or not POOLER_SETTING.fullmatch(key):
            check.add(where, "is not a PgBouncer setting name (lower case, digits, _)")
        elif key in PGBOUNCER_MANAGED:
            check.add(where, "is written by the role itself and cannot be set here")
        elif tls_on := [on for on, keys in PGBOUNCER_TLS_MANAGED.items() if key in keys and is_true(values.get(on))]:
            check.add(where, f"is written by the role itself with {tls_on[0]} on")
        elif isinstance(value, bool):
            check.add(where, "PgBouncer takes 0 or 1, not a boolean")
        else:
            check.add(where, setting_value(value))
    # The PgBouncer version (1.19 and later, for [peers]) is checked by the
    # role (tasks/processes_check.yml): only the host knows it.
    check.tls_files("pgbouncer_client_tls", "pgbouncer_tls")
    check.check("pgbouncer_processes", PROCESSES)
    peers = check.sequence("pgbouncer_peers", inventory_host(pooler_hosts, "a host of group pgbouncer"))
    if this_host is not None and peers and this_host not in peers:
        check.add("pgbouncer_peers", f"does not name this host, {show(this_host)}")
    elif len(peers) != len(set(map(str, peers))):
        check.add("pgbouncer_peers", "names a host twice")
    elif len(peers) > MAX_PEER_HOSTS:
        check.add("pgbouncer_peers", f"has {len(peers)} hosts; peer_id (100 x host + process) fits {MAX_PEER_HOSTS}")
    check.check("pgbouncer_drain_timeout", COUNT)
    check.check("pgbouncer_console_retries", NON_NEGATIVE)
    check.check("pgbouncer_pause_timeout", COUNT)
    check.check("pgbouncer_pause_on_timeout", choice(("resume", "proceed")))
    check.check("pgbouncer_docker_project_dir", own_directory)
    check.check("pgbouncer_docker_base_image", image)
    check.check("pgbouncer_docker_image", image)
    return check.problems


def webapp_problems(values: Mapping[str, Any]) -> list[str]:
    """Problems with the webapp role's variables."""
    check = Checker(values)
    docker = values.get("webapp_mode") == "docker"
    check.check("webapp_db_name", text(SQL_NAME, "a lower-case SQL name"))
    check.check("webapp_db_user", text(SQL_NAME, "a lower-case SQL name"))
    check.check("webapp_db_password", secret(12))
    check.sequence("webapp_pooler_hosts", url_host, required=True)
    if is_true(values.get("webapp_pooler_load_balance")) and is_true(values.get("webapp_pooler_fallback")):
        check.add("webapp_pooler_load_balance", LOAD_BALANCE_NEEDS)
    check.check("webapp_pooler_port", PORT)
    check.check("webapp_db_host", url_host)
    check.check("webapp_db_port", PORT)
    # Compose's .env holds values single-quoted: a quote would end one.
    if check.check("webapp_secret_key", secret(32)) and docker and "'" in values["webapp_secret_key"]:
        check.add("webapp_secret_key", "must not contain ' in Docker mode (value not shown)")
    source = values.get("webapp_source_dir")
    if not isinstance(source, str) or not source or CONTROL.search(source):
        check.add("webapp_source_dir", f"must be a directory on the controller, got {show(source)}")
    check.check("webapp_django_settings_module", module(allow_callable=False))
    check.check("webapp_wsgi_application", module(allow_callable=True))
    check.sequence("webapp_allowed_hosts", allowed_host, required=True)
    check.check("webapp_conn_max_age", NON_NEGATIVE)
    check.check("webapp_service_name", text(UNIT_NAME, "a systemd unit name (letters, digits, _ . -)"))
    check.check("webapp_user", text(SYSTEM_USER, "a system user name", {"root": "would run the app as root"}))
    check.check("webapp_app_dir", own_directory)
    check.check("webapp_env_file", lambda value: own_directory(value, of_file=True))
    check.check("webapp_listen_address", url_host)
    check.check("webapp_listen_port", PORT)
    check.check("webapp_workers", COUNT)
    check.check("webapp_graceful_timeout", COUNT)
    check.check("webapp_health_timeout", COUNT)
    # Values may be secrets: they are never shown.
    for key, value in check.mapping("webapp_extra_env").items():
        where = label("webapp_extra_env", key)
        if not isinstance(key, str) or not ENV_NAME.fullmatch(key):
            check.add(where, "is not an environment variable name (letters, digits, _)")
        elif key in WEBAPP_MANAGED_ENV:
            check.add(where, "is written by the role itself and cannot be set here")
        elif value is None or isinstance(value, Mapping | list | tuple):
            check.add(where, f"must be a string or a number, got {kind(value)}")
        elif CONTROL.search(str(value)):
            check.add(where, "must not contain a line break or control character (value not shown)")
        elif docker and "'" in str(value):
            check.add(where, "must not contain ' in Docker mode (value not shown)")
    check.sequence("webapp_manage_command", string, required=True)
    check.check("webapp_health_path", text(URL_PATH, "a URL path starting with /"))
    for name in ("webapp_requirements_file", "webapp_dockerfile"):
        if values.get(name, "") != "":
            check.check(name, text(RELATIVE_FILE, "a file in the project, relative to webapp_source_dir"))
    check.sequence("webapp_venv_packages", text(REQUIREMENT, "a pip requirement such as psycopg[binary]>=3.2"))
    for name in ("webapp_pip_index_url", "webapp_pip_find_links"):
        if values.get(name, "") != "":
            check.check(name, text(PIP_LOCATION, "a URL or directory without spaces or quotes"))
    if is_true(values.get("webapp_tls")) and values.get("webapp_tls_ca_file") not in ("", None):
        check.check("webapp_tls_ca_file", path)
    check.check("webapp_docker_project_dir", own_directory)
    check.check("webapp_docker_image", image)
    check.check("webapp_docker_base_image", image)
    return check.problems


class FilterModule:
    """pgstack.pgbouncer filters."""

    def filters(self) -> dict[str, object]:
        return {
            "postgres_problems": postgres_problems,
            "pgbouncer_problems": pgbouncer_problems,
            "webapp_problems": webapp_problems,
        }
