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

# Two stages at once (name, command, name, command): each one's output and
# duration are printed once both have finished, and each counts as a stage.
side_by_side() {
  stage_end
  local dir i name command rc seconds
  local -a names pids
  dir=$(mktemp -d)
  for i in 0 1; do
    name=$1 command=$2
    shift 2
    names[i]=$name
    printf '\n==> %s (started side by side)\n' "$name"
    (
      began=$SECONDS
      if eval "$command" >"$dir/$i.log" 2>&1; then rc=0; else rc=$?; fi
      echo "$rc $((SECONDS - began))" >"$dir/$i.rc"
    ) &
    pids[i]=$!
  done
  wait "${pids[@]}" || true
  for i in 0 1; do
    read -r rc seconds <"$dir/$i.rc"
    printf '\n==> %s (its output)\n' "${names[i]}"
    cat "$dir/$i.log"
    printf '<== %s: %ss\n' "${names[i]}" "$seconds"
    if [[ $rc -eq 0 ]]; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAILED: ${names[i]}"
    fi
  done
  rm -rf "$dir"
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
run "molecule test -s rollback (bypass and restore drill, both modes)" molecule test -s rollback
# Side by side: each has its own containers, networks and ports, and each
# bounds failed requests, not durations. The default and rollback scenarios,
# which bound gaps and recovery times, run alone.
side_by_side \
  "molecule test -s docker (Compose mode on this Docker host)" "molecule test -s docker" \
  "molecule test -s scaleout (two pooler hosts, two app hosts, one of them both)" "molecule test -s scaleout"
stage_end

printf '\nwhole test command: %ss\n' "$((SECONDS - started))"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
