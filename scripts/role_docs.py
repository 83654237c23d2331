#!/usr/bin/env python3
"""Write docs/roles.md from each role's meta/argument_specs.yml and defaults.

Every entry point of every role is listed with its short description; ``main``
and each entry point whose options are not exactly main's get a table of
their own options. A role marked internal (its meta/main.yml description, or
an entry point's short description, starts with "Internal") is listed
briefly: its entry points and their options' names. Ansible's markup in the
specs (C(), V(), O(), I(), ...) is rendered as Markdown.

Run it after changing a role's variables; tests/unit/test_role_docs.py fails
while the file is out of date (so does ``scripts/role_docs.py --check``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "roles.md"
COLLECTION = "pgstack.pgbouncer"

# Ansible's documentation markup. C(), I(), B(), U(), M() end at the first
# ")"; E(), V(), O(), RV(), P() take backslash escapes ("\)", "\\").
_PLAIN = r"\(([^)]*)\)"
_ESCAPED = r"\(((?:[^\\)]|\\.)*)\)"
MARKUP = re.compile(
    r"(?<![A-Za-z0-9_])(?:"
    rf"(?P<plain>[CIBUM]){_PLAIN}"
    rf"|(?P<escaped>RV|[EVOP]){_ESCAPED}"
    r"|L\((?P<link_text>[^,)]*),(?P<link_url>[^)]*)\)"
    r"|(?P<rule>HORIZONTALLINE)"
    r")"
)


def code(text: str) -> str:
    """A Markdown code span holding ``text``, whatever backticks it holds."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def emphasis(text: str, mark: str = "*") -> str:
    escaped = re.sub(r"([\\*_])", r"\\\1", text)
    return f"{mark}{escaped}{mark}"


def _markup(match: re.Match[str]) -> str:
    if match["plain"]:
        kind, text = match["plain"], match.group(2)
        if kind == "I":
            return emphasis(text)
        if kind == "B":
            return emphasis(text, "**")
        if kind == "U":
            return f"<{text}>"
        return code(text)  # C(), M()
    if match["escaped"]:
        text = re.sub(r"\\(.)", r"\1", match.group(4))
        return code(text)  # V(), O(), E(), RV(), P()
    if match["link_text"] is not None:
        return f"[{match['link_text'].strip()}]({match['link_url'].strip()})"
    return "---"


def markup(text: str) -> str:
    """Ansible documentation markup as Markdown: C(), V(), O() (and E(), M(),
    RV(), P()) as code spans, I() as emphasis, B() as strong, U() and L() as links."""
    return MARKUP.sub(_markup, text)


def one_line(value: object) -> str:
    """Text for one table cell, as it is: one line, pipes escaped."""
    if isinstance(value, list):
        value = " ".join(str(part) for part in value)
    return " ".join(str(value).split()).replace("|", "\\|")


def cell(value: object) -> str:
    """Documentation text for one table cell or paragraph: one line, markup rendered, pipes escaped."""
    if isinstance(value, list):
        value = " ".join(str(part) for part in value)
    return one_line(markup(" ".join(str(value).split())))


def flow(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def is_internal(galaxy_info: dict, entry_points: dict) -> bool:
    texts = [galaxy_info.get("description") or ""]
    texts += [entry.get("short_description") or "" for entry in entry_points.values()]
    return any(str(text).lstrip().lower().startswith("internal") for text in texts)


def option_table(options: dict, defaults: dict) -> list[str]:
    out = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for name, option in options.items():
        kind = option.get("type", "str")
        if option.get("choices"):
            kind += " (" + ", ".join(str(choice) for choice in option["choices"]) + ")"
        if option.get("no_log"):
            default = "*secret*"
        elif name in defaults:
            default = code(one_line(flow(defaults[name])))
        else:
            default = "*none*"
        out.append(f"| `{name}` | {kind} | {default} | {cell(option.get('description', ''))} |")
    return out


def entry_point_section(name: str, entry: dict, main_options: dict | None, defaults: dict) -> list[str]:
    out = [f"### `{name}`: {cell(entry.get('short_description', ''))}".rstrip(": "), ""]
    if entry.get("description"):
        out += [cell(entry["description"]), ""]
    options = entry.get("options") or {}
    if name != "main" and main_options is not None and options == main_options:
        out += ["Options: those of `main`.", ""]
    elif options:
        out += [*option_table(options, defaults), ""]
    else:
        out += ["No options.", ""]
    return out


def public_role(name: str, galaxy_info: dict, entry_points: dict, defaults: dict) -> list[str]:
    main = entry_points.get("main")
    main_options = (main.get("options") or {}) if main else None
    out = [f"## `{COLLECTION}.{name}`", ""]
    if galaxy_info.get("description"):
        out += [cell(galaxy_info["description"]), ""]
    out += ["| entry point | what it does | options |", "| --- | --- | --- |"]
    for entry_name, entry in entry_points.items():
        same = entry_name != "main" and main_options is not None and (entry.get("options") or {}) == main_options
        options = "those of `main`" if same else "its own, below" if entry.get("options") else "none"
        out.append(f"| `{entry_name}` | {cell(entry.get('short_description', ''))} | {options} |")
    out.append("")
    for entry_name, entry in entry_points.items():
        out += entry_point_section(entry_name, entry, main_options, defaults)
    return out


def internal_role(name: str, galaxy_info: dict, entry_points: dict) -> list[str]:
    out = [f"## `{COLLECTION}.{name}` (internal)", ""]
    if galaxy_info.get("description"):
        out += [cell(galaxy_info["description"]), ""]
    out += ["| entry point | what it does | options |", "| --- | --- | --- |"]
    for entry_name, entry in entry_points.items():
        options = ", ".join(f"`{option}`" for option in entry.get("options") or {}) or "none"
        out.append(f"| `{entry_name}` | {cell(entry.get('short_description', ''))} | {options} |")
    out.append("")
    return out


def render(root: Path = ROOT) -> str:
    out = [
        "# Roles and variables",
        "",
        "Generated by `scripts/role_docs.py` from `meta/argument_specs.yml`, `meta/main.yml` and `defaults/main.yml`.",
        "Secrets (marked *secret*) come from inventory or vault; they have no literal default.",
        "Shared values `pgstack_db_name`, `pgstack_db_user`, `pgstack_db_password`,",
        "`pgstack_pgbouncer_admin_password` and `pgstack_django_secret_key` feed all three roles.",
        "An entry point other than `main` is run with `include_role`'s or `import_role`'s `tasks_from`;",
        "internal roles are called by the others with explicit variables, not from playbooks.",
        "",
    ]
    public, internal = [], []
    for role_dir in sorted(p for p in (root / "roles").iterdir() if p.is_dir()):
        spec_file = role_dir / "meta" / "argument_specs.yml"
        if not spec_file.exists():
            raise SystemExit(f"{spec_file.relative_to(root)} is missing: every role documents its entry points")
        entry_points = load(spec_file)["argument_specs"]
        galaxy_info = load(role_dir / "meta" / "main.yml").get("galaxy_info") or {}
        defaults = load(role_dir / "defaults" / "main.yml")
        if is_internal(galaxy_info, entry_points):
            internal += internal_role(role_dir.name, galaxy_info, entry_points)
        else:
            # main first, then the others in the order of the file.
            ordered = dict(sorted(entry_points.items(), key=lambda item: item[0] != "main"))
            public += public_role(role_dir.name, galaxy_info, ordered, defaults)
    return "\n".join(out + public + internal)


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if TARGET.read_text() == render() else 1)
    TARGET.write_text(render())
