#!/usr/bin/env bash
# Everything the lab and the tests need on a Debian 12/13 machine, installed by
# this project's own files: host packages, a Python virtualenv with pinned tools,
# a running Docker engine and the locally built systemd base images.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

need_apt=()
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v curl >/dev/null || need_apt+=(curl)
command -v dockerd >/dev/null || need_apt+=(docker.io)
if ((${#need_apt[@]})); then
  stage "apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [[ ! -x $venv/bin/ansible-playbook ]] || ! cmp -s requirements-dev.txt "$venv/.requirements-dev.txt"; then
  stage "python virtualenv $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r requirements-dev.txt
  cp requirements-dev.txt "$venv/.requirements-dev.txt"
fi

stage "docker engine"
ensure_docker

stage "docker compose plugin"
ensure_compose_plugin

for suite in trixie bookworm; do
  stage "systemd base image pgstack/debian-systemd:$suite"
  ensure_systemd_image "$suite"
done
stage_end
