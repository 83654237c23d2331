"""No clear-text password anywhere but the app's own environment file.

Every search is a grep whose exit status is read: 0 found, 1 not found, and
anything else (2: a file or directory missing or unreadable, a bad option;
more from the shell) fails the test, so that a search that could not run
never passes as "nothing found".
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from conftest import hosts_of, variables

ALL = sorted(set(hosts_of("all")))
testinfra_hosts = [f"ansible://{name}" for name in ALL]

# Searched on every host: these exist on any Debian host.
REQUIRED = ("/etc", "/var/log", "/root", "/tmp", "/run")
# Also searched where they exist; required on the hosts that must have them.
OPTIONAL = ("/opt", "/var/lib/postgresql", "/home")
REQUIRED_IN_GROUP = {"postgres": ("/var/lib/postgresql",), "webapp": ("/opt",)}

JOURNAL = "journalctl --no-pager"
# Runs a producer (``$1``, a command of this file) and counts the lines of its
# output holding the needle (``$2``); the producer's own failure is an error
# (status 2) as well as grep's.
COUNT_LINES = """
eval "$1" | grep -cF -- "$2"
status=("${PIPESTATUS[@]}")
if [ "${status[0]}" -ne 0 ]; then
    echo "producer exited with status ${status[0]}" >&2
    exit 2
fi
exit "${status[1]}"
"""
# grep reads the trees while services run: a file that goes between grep's
# listing and its opening it (a rotated journal, a recycled WAL segment) is an
# error, and a search is tried again, at most this many times in all.
ATTEMPTS = 3


def grep_found(result, what: str) -> bool:
    """grep's verdict from its exit status: True for 0 (found), False for 1
    (not found); any other status is an error, never "not found"."""
    if result.rc == 0:
        return True
    if result.rc == 1:
        return False
    raise AssertionError(
        f"{what}: grep could not search (exit status {result.rc}):\n"
        f"{result.stderr.strip() or '(nothing on stderr)'}\n{result.stdout.strip()}".rstrip()
    )


def files_holding(host, needle: str, directories: list[str], attempts: int = ATTEMPTS) -> list[str]:
    """The files under ``directories`` that hold ``needle``: every file any
    attempt listed, once an attempt has succeeded; an error if none did."""
    found: set[str] = set()
    for _ in range(attempts):
        result = host.run("grep -rlF -- %s" + " %s" * len(directories), needle, *directories)
        found |= set(result.stdout.splitlines())
        if result.rc in (0, 1):
            break
    grep_found(result, f"searching {' '.join(directories)}")  # the last attempt's error fails here
    return sorted(found)


def lines_holding(host, producer: str, needle: str) -> int:
    """How many lines of ``producer``'s output hold ``needle``; an error if
    the producer or grep fails."""
    result = host.run("bash -c %s count-lines %s %s", COUNT_LINES, producer, needle)
    found = grep_found(result, f"searching the output of {producer}")
    count = int(result.stdout.strip())
    assert found == (count > 0), result
    return count


def searched_directories(host, groups: list[str]) -> list[str]:
    """REQUIRED and the OPTIONAL directories this host has; a required one
    missing is a failure, not a directory skipped."""
    candidates = [*REQUIRED, *OPTIONAL]
    listing = host.run(
        "for d in" + " %s" * len(candidates) + '; do if [ -d "$d" ]; then echo "$d"; fi; done', *candidates
    )
    assert listing.rc == 0, listing
    present = set(listing.stdout.split())
    required = {*REQUIRED, *(path for group in groups for path in REQUIRED_IN_GROUP.get(group, ()))}
    assert required <= present, f"missing directories: {sorted(required - present)}"
    return [path for path in candidates if path in present]


def clear_texts(host) -> list[str]:
    secrets = variables(host.backend.get_hostname())
    found = []
    for key in ("pgstack_db_password", "pgstack_pgbouncer_admin_password"):
        found += [secrets[key], quote(secrets[key], safe="")]
    return found


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_no_clear_text_password_in_files(host, which: int) -> None:
    needle = clear_texts(host)[which]
    groups = variables(host.backend.get_hostname())["group_names"]
    files = files_holding(host, needle, searched_directories(host, groups))
    allowed = {"/etc/pgstack-webapp/env"} if "webapp" in groups else set()
    assert set(files) <= allowed, files


@pytest.mark.parametrize("which", [0, 1, 2, 3])
def test_no_clear_text_password_in_the_journal(host, which: int) -> None:
    needle = clear_texts(host)[which]
    assert lines_holding(host, JOURNAL, needle) == 0
