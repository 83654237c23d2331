# Shared by the set-up and test scripts: stage timing and the Docker engine.
# shellcheck shell=bash

stage_started=$SECONDS
stage_name=""
stage() {
  stage_end
  stage_name=$*
  stage_started=$SECONDS
  printf '\n==> %s\n' "$stage_name"
}
stage_end() {
  if [[ -n $stage_name ]]; then
    printf '<== %s: %ss\n' "$stage_name" "$((SECONDS - stage_started))"
    stage_name=""
  fi
}

# Start dockerd where no engine answers: systemd where it is PID 1, otherwise
# in the background (containers and CI machines here have no init system).
ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  if [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not come up; see /var/log/dockerd.log" >&2
  tail -n 30 /var/log/dockerd.log >&2 || true
  return 1
}

# A Debian image with systemd as PID 1, built from the Debian archive because
# no container registry may be reachable. Rebuilt only when missing.
ensure_systemd_image() {
  local suite=$1 image=pgstack/debian-systemd:$1 dir
  docker image inspect "$image" >/dev/null 2>&1 && return 0
  dir=$(mktemp -d "/var/tmp/pgstack-$suite.XXXXXX")
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,acl,iproute2,ca-certificates,curl \
    "$suite" "$dir" http://deb.debian.org/debian >"$dir.log" 2>&1 \
    || { tail -n 30 "$dir.log" >&2; return 1; }
  # Units that make no sense in a container only slow the boot down.
  chroot "$dir" systemctl mask systemd-udevd.service systemd-udev-trigger.service \
    getty.target console-getty.service systemd-logind.service >/dev/null 2>&1 || true
  rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
  # An emptied list directory must not look freshly updated to apt's
  # cache_valid_time, or the first install finds no packages.
  touch -d 2000-01-01 "$dir/var/lib/apt/lists"
  tar -C "$dir" -c . | docker import \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=docker' - "$image" >/dev/null
  rm -rf "$dir" "$dir.log"
}

# The Compose v2 plugin (docker compose), which community.docker's
# docker_compose_v2 drives. Debian 12 has only Compose v1; Debian 13's
# docker-compose package is v2 and depends on nothing newer than Debian 12's
# libc, so on Debian 12 that one package is taken from trixie, pinned so that
# nothing else ever is.
ensure_compose_plugin() {
  docker compose version >/dev/null 2>&1 && return 0
  local suite
  suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [[ $suite == bookworm ]]; then
    cat >/etc/apt/sources.list.d/pgstack-trixie.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat >/etc/apt/preferences.d/pgstack-trixie <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 1
PIN
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose/trixie >/dev/null
  else
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
  fi
  docker compose version
}
