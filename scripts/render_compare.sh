#!/usr/bin/env bash
# Proves a refactor renders every file byte-identically: deploys git ref
# BEFORE to real test hosts, snapshots every file the roles write, deploys
# AFTER onto the very same hosts (PostgreSQL keeps its SCRAM salts: the roles
# keep a stored verifier while the password matches), snapshots again and
# diffs the two.
#
# Usage: scripts/render_compare.sh [--keep] BEFORE_REF AFTER_REF TARGET...
#
#   BEFORE_REF, AFTER_REF  any git ref of this repository (HEAD, a branch, a
#                          SHA); AFTER_REF may also be the word "worktree": the
#                          current working tree, uncommitted changes and new
#                          untracked (not ignored) files included. It is
#                          recorded as a dangling commit object built through
#                          a temporary index; no ref, index or file changes.
#   TARGET                 one or more of
#     lab      inventories/lab/hosts.yml: the containers pgstack-db,
#              pgstack-pool, pgstack-web (playbooks/lab.yml creates them, or
#              reuses them when they are already there). BEFORE and AFTER use
#              the same .lab/secrets (copied from this checkout's .lab when
#              present, so an existing lab keeps its passwords).
#     default  molecule/default: 4 systemd containers pgstack-m-*, host mode.
#     docker   molecule/docker: a Compose project on this machine in
#              pgstack_docker_project_dir (/var/tmp/pgstack-molecule-docker).
#              The molecule targets use the same container names and project
#              directory as `molecule test`: never while someone else runs it.
#   --keep     leave the hosts running at the end (and on failure). Without
#              it the lab containers and network are removed and the molecule
#              scenarios destroyed (`molecule destroy` from the BEFORE
#              checkout), also when a stage failed. A later run reuses kept
#              hosts instead of creating them again.
#
# How each target is deployed:
#   lab                 ansible-playbook playbooks/lab.yml + playbooks/deploy.yml
#                       from the BEFORE checkout, then playbooks/deploy.yml from
#                       the AFTER checkout, each with its own ansible.cfg.
#   default, docker     BEFORE: molecule create, prepare, converge -s TARGET in
#                       the BEFORE checkout. AFTER: no molecule (its driver or
#                       molecule.yml may have changed, and molecule refuses a
#                       driver change): ansible-playbook with the inventory
#                       molecule generated for BEFORE (its ephemeral
#                       directory's inventory/: ansible_inventory.yml plus the
#                       group_vars/host_vars of BEFORE's molecule.yml) on the
#                       AFTER checkout's molecule/TARGET/converge.yml, with the
#                       AFTER checkout's ansible.cfg (collections_path
#                       .collections, whose pgstack/pgbouncer links back to
#                       that checkout). The ephemeral directory is pinned
#                       with MOLECULE_EPHEMERAL_DIRECTORY to
#                       /var/tmp/pgstack-render/TARGET/molecule, rather than
#                       relying on molecule's own naming (molecule 26:
#                       ~/.ansible/tmp/molecule.<4 chars of the base64 SHA-256
#                       of the project directory's basename>.<scenario>).
#
# Snapshot, per inventory host: a host-mode host (a container reached with the
# docker connection) is read with `docker exec`: every regular file and
# symlink under /etc/pgbouncer /etc/postgresql /etc/systemd/system
# /usr/local/sbin /opt/pgstack-webapp /etc/pgstack-webapp. A docker-mode host
# (connection local) is this machine: its Compose project directory (the
# inventory's pgstack_docker_project_dir and the roles' *_docker_project_dir,
# default /opt/pgstack) and /usr/local/sbin/pgstack-*. One line per file:
#   host:path owner:group mode sha256:HEX      (symlinks: -> target)
# Missing directories appear as "host:dir absent". Nothing else is excluded:
# a file that changes on every deploy shows up as a difference (run with
# BEFORE = AFTER to see whether any does).
#
# Output, all under /var/tmp/pgstack-render/ (checkouts in src/):
#   TARGET/before.txt, TARGET/after.txt   the snapshots (diff -u shown when
#                                         they differ)
#   TARGET/before.log, TARGET/after.log   the deploy runs' output
# Each stage's duration is printed (scripts/lib.sh's stage), and the AFTER
# run's PLAY RECAP with its total changed= count (a warning when not 0; it is
# not an error by itself).
#
# Exit status: 0 every target's snapshots are identical; 1 some differ;
# 2 usage; 3 a stage failed (deploy, snapshot, checkout; see its log).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=/var/tmp/pgstack-render
src=$work/src
# shellcheck source=scripts/lib.sh disable=SC1091 # followed with shellcheck -x
source "$repo/scripts/lib.sh"
export PATH=$repo/.venv/bin:$PATH
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY_COLORS=0

usage() {
  echo "usage: $0 [--keep] BEFORE_REF AFTER_REF|worktree TARGET..." >&2
  echo "TARGET: lab, default, docker. See the header of $0." >&2
  exit 2
}

keep=false
if [[ ${1:-} == --keep ]]; then
  keep=true
  shift
fi
(($# >= 3)) || usage
before_ref=$1
after_ref=$2
shift 2
targets=("$@")
for t in "${targets[@]}"; do
  case $t in
    lab | default | docker) ;;
    *) echo "unknown target: $t" >&2; usage ;;
  esac
done

# Targets whose hosts exist and must be removed at the end (unless --keep).
active=()
outcome=""

# --- checkouts -------------------------------------------------------------

# The working tree as a commit object: a temporary index gets every tracked
# change, deletion and untracked (not ignored) file; the real index, refs and
# files are left alone.
worktree_commit() {
  local index tree
  index=$(mktemp)
  cp "$(git -C "$repo" rev-parse --path-format=absolute --git-path index)" "$index"
  GIT_INDEX_FILE=$index git -C "$repo" add -A
  tree=$(GIT_INDEX_FILE=$index git -C "$repo" write-tree)
  rm -f "$index"
  GIT_AUTHOR_NAME=render_compare GIT_AUTHOR_EMAIL=render_compare@localhost \
    GIT_COMMITTER_NAME=render_compare GIT_COMMITTER_EMAIL=render_compare@localhost \
    git -C "$repo" commit-tree "$tree" -p HEAD -m "render_compare: working tree"
}

resolve() {
  if [[ $1 == worktree ]]; then
    worktree_commit
  else
    git -C "$repo" rev-parse --verify --quiet "$1^{commit}" || {
      echo "not a commit in $repo: $1" >&2
      return 1
    }
  fi
}

# A clone sharing this repository's objects (dangling working-tree commits
# included), switched to the commit; ignored files (.lab) survive a switch.
checkout() {
  local dir=$1 sha=$2
  if [[ ! -d $dir/.git || $(git -C "$dir" config remote.origin.url) != "$repo" ]]; then
    rm -rf "$dir"
    git clone --quiet --shared --no-checkout "$repo" "$dir"
  fi
  git -C "$dir" checkout --quiet --force --detach "$sha"
  git -C "$dir" clean --quiet -ffdx -e /.lab
}

# --- running ---------------------------------------------------------------

# Runs a command in a checkout with its output in a log; on failure shows the
# log's end and fails.
logged() {
  local dir=$1 log=$2
  shift 2
  if ! (cd "$dir" && "$@") >"$log" 2>&1; then
    echo "FAILED: $* (in $dir); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}

# ansible-playbook from a checkout, with that checkout's ansible.cfg.
playbook() {
  local dir=$1 log=$2
  shift 2
  logged "$dir" "$log" env ANSIBLE_CONFIG="$dir/ansible.cfg" ansible-playbook "$@"
}

molecule_in() {
  local target=$1 log=$2
  shift 2
  logged "$before_dir" "$log" env MOLECULE_EPHEMERAL_DIRECTORY="$work/$target/molecule" molecule "$@"
}

# The PLAY RECAP of a run and its changed= count over all hosts.
recap() {
  local log=$1 total
  sed -n '/^PLAY RECAP/,$p' "$log" | grep -E 'changed=[0-9]+' || true
  total=$(sed -n '/^PLAY RECAP/,$p' "$log" |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, kv, "="); n += kv[2]; seen = 1 } }
         END { print seen ? n : "unknown" }')
  echo "AFTER run: changed=$total (PLAY RECAP, all hosts)"
  if [[ $total != 0 ]]; then
    echo "WARNING: the AFTER run reported changed tasks ($total); the snapshots alone decide the exit status" >&2
  fi
}

# --- snapshots -------------------------------------------------------------

# What to read on each host of an inventory, one line each:
#   container NAME        (host mode, docker connection)
#   local HOST DIR...     (docker mode, on this machine)
snapshot_plan() {
  local dir=$1 inventory=$2
  (cd "$dir" && ANSIBLE_CONFIG=$dir/ansible.cfg ansible-inventory -i "$inventory" --list) | python3 -c '
import json, sys
hostvars = json.load(sys.stdin).get("_meta", {}).get("hostvars", {})
if not hostvars:
    sys.exit("no hosts in the inventory")
plan = []
for host in sorted(hostvars):
    v = hostvars[host]
    conn = v.get("ansible_connection", "ssh")
    if v.get("pgstack_mode", "host") == "docker":
        if conn != "local":
            sys.exit(f"{host}: docker mode on a remote Docker host is not supported")
        keys = ("pgstack_docker_project_dir", "postgres_docker_project_dir",
                "pgbouncer_docker_project_dir", "webapp_docker_project_dir")
        dirs = {v[k] for k in keys if isinstance(v.get(k), str) and "{{" not in v[k]}
        plan.append(" ".join(["local", host, *sorted(dirs or {"/opt/pgstack"})]))
    elif conn in ("docker", "community.docker.docker"):
        plan.append("container " + v.get("ansible_host", host))
    else:
        sys.exit(f"{host}: connection {conn} cannot be read with docker exec")
print("\n".join(plan))
'
}

# Lists every regular file and symlink under the paths given (missing ones
# noted), prefixed with $1 (the host).
# shellcheck disable=SC2016 # expanded by the shell that runs it
lister='
set -e
host=$1
shift
for root in "$@"; do
  if [ ! -e "$root" ] && [ ! -L "$root" ]; then
    printf "%s:%s absent\n" "$host" "$root"
    continue
  fi
  find "$root" \( -type f -o -type l \) -printf "%p\t%u:%g\t%m\t%y\t%l\n" |
    while IFS="	" read -r path owner mode type target; do
      if [ "$type" = l ]; then
        printf "%s:%s %s %s -> %s\n" "$host" "$path" "$owner" "$mode" "$target"
      else
        sum=$(sha256sum <"$path") || exit 1
        printf "%s:%s %s %s sha256:%s\n" "$host" "$path" "$owner" "$mode" "${sum%% *}"
      fi
    done
done'

host_dirs=(/etc/pgbouncer /etc/postgresql /etc/systemd/system /usr/local/sbin /opt/pgstack-webapp /etc/pgstack-webapp)

snapshot() {
  local dir=$1 inventory=$2 out=$3 kind name rest
  local -a plan
  mapfile -t plan < <(snapshot_plan "$dir" "$inventory")
  ((${#plan[@]})) || return 1
  for line in "${plan[@]}"; do
    read -r kind name rest <<<"$line"
    case $kind in
      container)
        docker exec "$name" sh -c "$lister" sh "$name" "${host_dirs[@]}"
        ;;
      local)
        local -a roots
        read -r -a roots <<<"$rest"
        roots+=(/usr/local/sbin/pgstack-*)
        sh -c "$lister" sh "localhost($name)" "${roots[@]}"
        ;;
    esac
  done | LC_ALL=C sort >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "$(grep -vc ' absent$' "$out") files and links in $out"
}

# --- targets ---------------------------------------------------------------

lab_inventory=inventories/lab/hosts.yml

deploy_before() {
  local t=$1
  case $t in
    lab)
      # One set of lab secrets for BEFORE and AFTER; an existing lab's first.
      if [[ -d $repo/.lab ]]; then
        rm -rf "$before_dir/.lab"
        cp -a "$repo/.lab" "$before_dir/.lab"
      fi
      stage "$t: BEFORE ${before_sha:0:12}: lab containers (playbooks/lab.yml)"
      active+=("$t")
      playbook "$before_dir" "$work/$t/before-lab.log" -i "$lab_inventory" playbooks/lab.yml
      stage "$t: BEFORE ${before_sha:0:12}: deploy (playbooks/deploy.yml)"
      playbook "$before_dir" "$work/$t/before.log" -i "$lab_inventory" playbooks/deploy.yml
      ;;
    default | docker)
      stage "$t: BEFORE ${before_sha:0:12}: molecule create -s $t"
      molecule_hosts_free "$t"
      active+=("$t")
      molecule_in "$t" "$work/$t/before-create.log" create -s "$t"
      stage "$t: BEFORE ${before_sha:0:12}: molecule prepare -s $t"
      molecule_in "$t" "$work/$t/before-prepare.log" prepare -s "$t"
      stage "$t: BEFORE ${before_sha:0:12}: molecule converge -s $t"
      molecule_in "$t" "$work/$t/before.log" converge -s "$t"
      if [[ ! -f $work/$t/molecule/inventory/ansible_inventory.yml ]]; then
        echo "molecule left no inventory in $work/$t/molecule/inventory" >&2
        return 1
      fi
      ;;
  esac
}

# The scenario's containers and Compose project directory have fixed names:
# unless this script's own (kept) scenario made them, they are someone else's
# `molecule test`, which a create would take over and a destroy remove.
molecule_hosts_free() {
  local t=$1 kind name busy=()
  if grep -qs '^created: true' "$work/$t/molecule/state.yml"; then
    return 0
  fi
  while read -r kind name; do
    case $kind in
      container) docker container inspect "$name" >/dev/null 2>&1 && busy+=("container $name") ;;
      dir) [[ -e $name ]] && busy+=("directory $name") ;;
    esac
  done < <(python3 - "$before_dir/molecule/$t/molecule.yml" <<'PY'
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
for p in m.get("platforms", []):
    print("container", p["name"])
inv = m.get("provisioner", {}).get("inventory", {})
for vs in [*inv.get("group_vars", {}).values(), *inv.get("host_vars", {}).values()]:
    d = (vs or {}).get("pgstack_docker_project_dir")
    if isinstance(d, str) and "{{" not in d:
        print("dir", d)
PY
  )
  if ((${#busy[@]})); then
    printf 'in use, not made by this script (someone running molecule -s %s?): %s\n' "$t" "${busy[*]}" >&2
    return 1
  fi
}

inventory_of() {
  case $1 in
    lab) echo "$lab_inventory" ;;
    *) echo "$work/$1/molecule/inventory" ;;
  esac
}

deploy_after() {
  local t=$1
  stage "$t: AFTER ${after_sha:0:12}: deploy"
  case $t in
    lab)
      rm -rf "$after_dir/.lab"
      if [[ -d $before_dir/.lab ]]; then
        cp -a "$before_dir/.lab" "$after_dir/.lab"
      fi
      playbook "$after_dir" "$work/$t/after.log" -i "$lab_inventory" playbooks/deploy.yml
      ;;
    default | docker)
      if [[ ! -f $after_dir/molecule/$t/converge.yml ]]; then
        echo "AFTER has no molecule/$t/converge.yml" >&2
        return 1
      fi
      # The scenario's inventory may name files molecule made (the default
      # scenario's generated Wagtail project), by its ephemeral directory.
      MOLECULE_EPHEMERAL_DIRECTORY="$work/$t/molecule" MOLECULE_PROJECT_DIRECTORY="$before_dir" \
        playbook "$after_dir" "$work/$t/after.log" -i "$work/$t/molecule/inventory" "molecule/$t/converge.yml"
      ;;
  esac
}

destroy() {
  local t=$1 name
  case $t in
    lab)
      for name in pgstack-db pgstack-pool pgstack-web; do
        docker rm -f "$name" >/dev/null 2>&1 || true
      done
      docker network rm pgstack-lab >/dev/null 2>&1 || true
      ;;
    default | docker)
      molecule_in "$t" "$work/$t/destroy.log" destroy -s "$t" || true
      ;;
  esac
}

keep_note() {
  local t=$1
  case $t in
    lab) echo "kept: lab containers pgstack-db pgstack-pool pgstack-web (docker rm -f them when done)" ;;
    *)
      echo "kept: molecule scenario $t; remove it with:"
      echo "  cd $before_dir && MOLECULE_EPHEMERAL_DIRECTORY=$work/$t/molecule $repo/.venv/bin/molecule destroy -s $t"
      ;;
  esac
}

finish() {
  local rc=$? t
  trap - EXIT
  if [[ -z $outcome ]]; then
    echo "render_compare: FAILED (exit status $rc)${stage_name:+ in stage: $stage_name}" >&2
    rc=3
  fi
  stage_end
  for t in "${active[@]}"; do
    if $keep; then
      keep_note "$t"
    else
      stage "$t: remove the hosts"
      destroy "$t"
    fi
  done
  stage_end
  printf '\nrender_compare: %ss in all\n' "$((SECONDS - started))"
  exit "$rc"
}

# --- main ------------------------------------------------------------------

started=$SECONDS
trap finish EXIT

mkdir -p "$src"
chmod 700 "$src"

stage "bootstrap (docker engine, base images)"
logged "$repo" "$work/bootstrap.log" bash scripts/bootstrap.sh

stage "checkouts of $before_ref and $after_ref"
before_sha=$(resolve "$before_ref")
after_sha=$(resolve "$after_ref")
before_dir=$src/before
after_dir=$src/after
checkout "$before_dir" "$before_sha"
checkout "$after_dir" "$after_sha"
echo "BEFORE $before_ref = $before_sha"
echo "AFTER  $after_ref = $after_sha"

differ=()
for t in "${targets[@]}"; do
  mkdir -p "$work/$t"
  rm -f "$work/$t/before.txt" "$work/$t/after.txt"
  deploy_before "$t"
  inventory=$(inventory_of "$t")

  stage "$t: snapshot after BEFORE"
  snapshot "$before_dir" "$inventory" "$work/$t/before.txt"

  deploy_after "$t"
  recap "$work/$t/after.log"

  stage "$t: snapshot after AFTER"
  snapshot "$before_dir" "$inventory" "$work/$t/after.txt"

  stage "$t: compare"
  if diff -u "$work/$t/before.txt" "$work/$t/after.txt"; then
    echo "$t: IDENTICAL ($(wc -l <"$work/$t/before.txt") lines, $work/$t/{before,after}.txt)"
  else
    echo "$t: DIFFERENT (the diff above: $work/$t/before.txt -> after.txt)"
    differ+=("$t")
  fi

  # Free the machine before the next target.
  if ! $keep; then
    stage "$t: remove the hosts"
    destroy "$t"
    active=()
  fi
done

outcome=finished
stage_end
if ((${#differ[@]})); then
  echo "render_compare: snapshots DIFFER for: ${differ[*]}"
  exit 1
fi
echo "render_compare: snapshots identical for: ${targets[*]}"
