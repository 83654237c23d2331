#!/usr/bin/env bash
# Every test: lint (yamllint, ansible-lint production profile, ruff), the
# Python unit tests, the playbook's variable checks, and the molecule
# scenarios on local systemd containers. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
bash scripts/bootstrap.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
export PATH=$PWD/.venv/bin:$PATH
export ANSIBLE_FORCE_COLOR=0 PY_COLORS=0

passed=0
failed=0
run() {
  stage "$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $*"
  fi
}

# The collection as users get it: built, installed elsewhere, and its
# playbook found by name from a directory that knows nothing of this checkout.
installed_collection() {
  local dir
  dir=$(mktemp -d)
  ansible-galaxy collection build --output-path "$dir" . >/dev/null &&
    ansible-galaxy collection install --no-deps --force -p "$dir/collections" "$dir"/pgstack-pgbouncer-*.tar.gz >/dev/null &&
    (cd "$dir" && ANSIBLE_COLLECTIONS_PATH="$dir/collections" ansible-playbook \
      -i "$OLDPWD/inventories/lab/hosts.yml" --syntax-check pgstack.pgbouncer.deploy)
  local rc=$?
  rm -rf "$dir"
  return $rc
}

run "yamllint" yamllint --strict .
run "ansible-lint (production profile)" ansible-lint --strict
run "ruff" ruff check .
# Two workers: most of it is ansible-playbook runs, one core each (171 s
# alone, 102 s on two workers).
run "pytest: SCRAM filter, role specs, variable checks" python -m pytest -n 2 -v tests
run "collection build, install, pgstack.pgbouncer.deploy by name" installed_collection
run "molecule test -s default (Debian 13 + 12, host mode)" molecule test -s default
run "molecule test -s docker (Compose mode on this Docker host)" molecule test -s docker
run "molecule test -s rollback (bypass and restore drill, both modes)" molecule test -s rollback
run "molecule test -s scaleout (two pooler hosts, two app hosts, one of them both)" molecule test -s scaleout
stage_end

printf '\nwhole test command: %ss\n' "$((SECONDS - started))"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
