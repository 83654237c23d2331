#!/usr/bin/env bash
# One command from a fresh Debian machine to a running lab: installs what is
# needed, creates the lab containers, deploys the stack and asks the app.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
export PATH=$PWD/.venv/bin:$PATH

stage "lab containers (playbooks/lab.yml)"
ansible-playbook playbooks/lab.yml

stage "deploy the stack (playbooks/deploy.yml)"
ansible-playbook playbooks/deploy.yml "$@"

stage "the app, asked from this machine"
for path in healthz notes; do
  printf 'GET /%s -> ' "$path"
  curl -fsS "http://127.0.0.1:8000/$path"
  echo
done
stage_end
