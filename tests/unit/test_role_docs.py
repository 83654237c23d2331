"""docs/roles.md is generated from the argument specs and must be current."""

from __future__ import annotations

import importlib.util
import re
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "role_docs.py"

_spec = importlib.util.spec_from_file_location("role_docs", SCRIPT)
role_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(role_docs)

# Ansible markup left as it is: C(x), I(x), V(x), O(x), ...
RAW_MARKUP = re.compile(r"(?<![A-Za-z0-9_])(?:[CIBUMEVOPL]|RV)\([^)]*\)")


def test_roles_doc_is_current() -> None:
    assert role_docs.TARGET.read_text() == role_docs.render(), "run: python3 scripts/role_docs.py"


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("C(host) or C(docker)", "`host` or `docker`"),
        ("V(transaction) and O(pgbouncer_pool_mode=session)", "`transaction` and `pgbouncer_pool_mode=session`"),
        ("I(never) shown", "*never* shown"),
        ("I(pg_hba.conf *)", r"*pg\_hba.conf \**"),
        ("B(bold)", "**bold**"),
        (r"V(a\)b) and V(c\\d)", r"`a)b` and `c\d`"),
        ("C(`x`)", "`` `x` ``"),
        ("C(DATABASE_URL*), C([pgbouncer]) and C(_ . -)", "`DATABASE_URL*`, `[pgbouncer]` and `_ . -`"),
        ("L(the guide,https://example.com/a) and U(https://example.com)",
         "[the guide](https://example.com/a) and <https://example.com>"),
        ("ABC(x), default(x) and max_connections(3)", "ABC(x), default(x) and max_connections(3)"),
    ],
)
def test_markup_is_rendered_as_markdown(text: str, markdown: str) -> None:
    assert role_docs.markup(text) == markdown


def test_no_raw_markup_in_the_doc() -> None:
    # Only the descriptions are checked: defaults are shown as they are.
    described = [line.rsplit(" | ", 1)[-1] if line.startswith("| `") else line
                 for line in role_docs.render().splitlines()]
    assert not [line for line in described if RAW_MARKUP.search(line)]


def test_every_entry_point_of_every_role_is_listed() -> None:
    doc = role_docs.render()
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        entry_points = yaml.safe_load(spec_file.read_text())["argument_specs"]
        for name, entry in entry_points.items():
            row = f"| `{name}` | {role_docs.cell(entry.get('short_description', ''))} |"
            assert row in doc, (spec_file, name)


def write_role(root: Path, name: str, specs: str, defaults: str = "", galaxy: str = "A role.") -> None:
    role = root / "roles" / name
    (role / "meta").mkdir(parents=True)
    (role / "defaults").mkdir()
    (role / "meta" / "argument_specs.yml").write_text(textwrap.dedent(specs))
    (role / "meta" / "main.yml").write_text(yaml.safe_dump({"galaxy_info": {"description": galaxy}}))
    (role / "defaults" / "main.yml").write_text(textwrap.dedent(defaults) or "---\n")


SPECS = """\
    argument_specs:
      main:
        short_description: The whole role
        description: [Does C(everything).]
        options: &options
          demo_port:
            type: int
            description: Port, I(not) a name.
          demo_password:
            type: str
            no_log: true
            description: Secret.
      assert:
        short_description: Check the variables
        options: *options
      copy:
        short_description: Same options, written out again
        options:
          demo_port: {type: int, description: "Port, I(not) a name."}
          demo_password: {type: str, no_log: true, description: Secret.}
      budget:
        short_description: Only some
        options:
          demo_port: {type: int, description: Port for O(budget).}
      ping:
        short_description: No options at all
    """


def test_entry_points_with_anchors_aliases_and_own_options(tmp_path: Path) -> None:
    write_role(tmp_path, "demo", SPECS, "demo_port: 5432\ndemo_password: '{{ pgstack_x }}'\n")
    doc = role_docs.render(tmp_path)
    assert "| `main` | The whole role | its own, below |" in doc
    assert "| `assert` | Check the variables | those of `main` |" in doc
    assert "| `copy` | Same options, written out again | those of `main` |" in doc
    assert "| `budget` | Only some | its own, below |" in doc
    assert "| `ping` | No options at all | none |" in doc
    sections = dict(re.findall(r"^### `(\w+)`: [^\n]*\n\n(.*?)(?=^### |\Z)", doc, re.M | re.S))
    assert list(sections) == ["main", "assert", "copy", "budget", "ping"]
    assert "Does `everything`." in sections["main"]
    assert "| `demo_port` | int | `5432` | Port, *not* a name. |" in sections["main"]
    assert "| `demo_password` | str | *secret* | Secret. |" in sections["main"]
    assert "Options: those of `main`." in sections["assert"] and "| `demo_port`" not in sections["assert"]
    assert "Options: those of `main`." in sections["copy"]
    assert "| `demo_port` | int | `5432` | Port for `budget`. |" in sections["budget"]
    assert "demo_password" not in sections["budget"]
    assert "No options." in sections["ping"]


def test_internal_roles_are_listed_briefly_after_the_others(tmp_path: Path) -> None:
    write_role(tmp_path, "demo", SPECS)
    write_role(
        tmp_path, "aaa",
        """\
        argument_specs:
          up:
            short_description: Bring it up
            options:
              aaa_dir: &dir {type: path, required: true, description: The directory.}
              aaa_services: {type: list, description: Services.}
          exec:
            short_description: Run C(one) command
            options:
              aaa_dir: *dir
        """,
        galaxy="Internal: plumbing for the other roles.",
    )
    doc = role_docs.render(tmp_path)
    assert doc.index("## `pgstack.pgbouncer.demo`") < doc.index("## `pgstack.pgbouncer.aaa` (internal)")
    internal = doc[doc.index("## `pgstack.pgbouncer.aaa` (internal)"):]
    assert "Internal: plumbing for the other roles." in internal
    assert "| `up` | Bring it up | `aaa_dir`, `aaa_services` |" in internal
    assert "| `exec` | Run `one` command | `aaa_dir` |" in internal
    assert "| variable |" not in internal
