#!/usr/bin/env bash
# The benchmark (docs/benchmarks.md): the lab is created or reused, the bench
# container gets its tools, and scripts/bench/ runs every load from there,
# direct and pooled side by side, printing tables and writing JSON to
# .lab/bench/. Arguments go to scripts/bench (--help). Not part of the test
# command: it measures, it does not judge. Reuses a running lab; --fresh
# recreates the lab's containers first, so the first deploy is timed too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_FORCE_COLOR=0

if [[ ${1:-} == --fresh ]]; then
  shift
  stage "remove the lab containers"
  docker rm -f pgstack-db pgstack-pool pgstack-web pgstack-bench >/dev/null 2>&1 || true
fi

fresh=false
first=()
docker inspect pgstack-db >/dev/null 2>&1 || fresh=true
stage "lab containers (playbooks/lab.yml)"
ansible-playbook playbooks/lab.yml
if $fresh; then
  stage "first deploy on new containers (playbooks/deploy.yml)"
  start=$SECONDS
  ansible-playbook playbooks/deploy.yml
  first=(--first-deploy-seconds "$((SECONDS - start))")
fi

stage "the bench container's tools (scripts/bench/setup.yml)"
ansible-playbook scripts/bench/setup.yml

stage "benchmark (scripts/bench)"
python3 scripts/bench "${first[@]}" "$@"
stage_end
