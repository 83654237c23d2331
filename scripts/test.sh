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
# The default and docker scenarios share nothing (their own containers,
# networks, ports and Compose project) and each leaves about 40 % of this
# machine's CPU idle: they run side by side, each into its own log, shown
# whole with its own time once both have ended. The rollback scenario runs
# alone after them: its bounds on stalls are measured on a quiet machine.
side_by_side() {
  local dir pair name label
  dir=$(mktemp -d)
  stage "side by side: ${*%%:*}"
  for pair in "$@"; do
    name=${pair%%:*}
    (
      began=$SECONDS
      if molecule test -s "$name" >"$dir/$name.log" 2>&1; then rc=0; else rc=$?; fi
      echo "$rc $((SECONDS - began))" >"$dir/$name.rc"
    ) &
  done
  wait
  stage_end
  for pair in "$@"; do
    name=${pair%%:*} label=${pair#*:}
    read -r rc took <"$dir/$name.rc"
    printf '\n==> molecule test -s %s (%s)\n' "$name" "$label"
    cat "$dir/$name.log"
    printf '<== molecule test -s %s: %ss (beside the others)\n' "$name" "$took"
    if [[ $rc -eq 0 ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAILED: molecule test -s $name"
    fi
  done
  rm -rf "$dir"
}

side_by_side "default:Debian 13 + 12, host mode" "docker:Compose mode on this Docker host"
run "molecule test -s rollback (bypass and restore drill, both modes)" molecule test -s rollback
stage_end

printf '\nwhole test command: %ss\n' "$((SECONDS - started))"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
