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

# Lanes of stages side by side: each lane runs its stages one after the
# other, the lanes at once. Arguments: name, command, name, command ... with
# "--" between lanes. Each stage's output and duration are printed once
# every lane has finished, and each counts as a stage.
lanes() {
  stage_end
  local dir i lane=0 lane_number count=0 rc seconds began lanes_began=$SECONDS
  local -a names commands lane_of pids
  while (($#)); do
    if [[ $1 == -- ]]; then
      lane=$((lane + 1))
      shift
      continue
    fi
    names[count]=$1 commands[count]=$2 lane_of[count]=$lane
    count=$((count + 1))
    shift 2
  done
  dir=$(mktemp -d)
  for ((lane_number = 0; lane_number <= lane; lane_number++)); do
    (
      for ((i = 0; i < count; i++)); do
        [[ ${lane_of[i]} -eq $lane_number ]] || continue
        began=$SECONDS
        if (eval "${commands[i]}") >"$dir/$i.log" 2>&1; then rc=0; else rc=$?; fi
        echo "$rc $((SECONDS - began)) $began" >"$dir/$i.rc"
      done
    ) &
    pids+=($!)
    printf '\n==> lane %d (started side by side):' "$((lane_number + 1))"
    for ((i = 0; i < count; i++)); do
      [[ ${lane_of[i]} -eq $lane_number ]] && printf ' %s;' "${names[i]}"
    done
    printf '\n'
  done
  wait "${pids[@]}" || true
  for ((i = 0; i < count; i++)); do
    read -r rc seconds began <"$dir/$i.rc"
    printf '\n==> %s (lane %d, its output)\n' "${names[i]}" "$((lane_of[i] + 1))"
    cat "$dir/$i.log"
    printf '<== %s: %ss (lane %d, from %ss into the lanes)\n' "${names[i]}" "$seconds" "$((lane_of[i] + 1))" \
      "$((began - lanes_began))"
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

# The Docker-mode half of a scenario (its tests named *docker*): they deploy
# Compose projects of their own on this machine, need none of molecule's
# hosts, and the scenario's own verify leaves them out (molecule.yml).
docker_half() {
  local project=$PWD
  (cd "molecule/$1/tests" && MOLECULE_PROJECT_DIRECTORY=$project \
    python -m pytest -s -v -p no:cacheprovider -k docker .)
}

# Two rounds of two lanes. The rollback drill bounds the gaps in service of
# rollback.yml and restore.yml, which grow with whatever else runs: its two
# halves run one after the other beside the checks alone (they end while the
# scenario still builds its hosts). With three lanes at once the Docker half's
# rollback.yml gap was 32 s against its bound of 20 (14.7 s alone). Then the
# others, two at a time; each stage has its own containers, networks, ports,
# Compose projects and image tags, except that the rollback drill's Docker
# half and the docker scenario share the default tags (the docker scenario
# builds a Dockerfile of its own under them): not at once. pytest on two
# workers: most of it is ansible-playbook runs, one core each.
lanes \
  "molecule test -s rollback (bypass and restore drill, host mode)" "molecule test -s rollback" \
  "rollback drill, Docker mode (this machine's engine)" "docker_half rollback" \
  -- \
  "yamllint" "yamllint --strict ." \
  "ansible-lint (production profile)" "ansible-lint --strict" \
  "ruff" "ruff check ." \
  "pytest: SCRAM filter, role specs, variable checks" "python -m pytest -n 2 -v tests" \
  "collection build, install, pgstack.pgbouncer.deploy by name" installed_collection
lanes \
  "molecule test -s default (Debian 13 + 12, host mode)" "molecule test -s default" \
  "scaleout, Docker mode (two Docker hosts on this engine)" "docker_half scaleout" \
  -- \
  "molecule test -s scaleout (several pooler and app hosts, host mode)" "molecule test -s scaleout" \
  "molecule test -s docker (Compose mode on this Docker host)" "molecule test -s docker"
stage_end

printf '\nwhole test command: %ss\n' "$((SECONDS - started))"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
