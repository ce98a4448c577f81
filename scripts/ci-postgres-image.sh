#!/usr/bin/env bash
# The container route of CI: a Docker engine of its own and a PostgreSQL 15 image built locally
# (no image registry is reachable from CI, so nothing is pulled). Used by .ci/run:
#
#   scripts/ci-postgres-image.sh start     install docker.io/debootstrap when missing, start dockerd
#   scripts/ci-postgres-image.sh image     make sure $CHORD_TEST_POSTGRES_IMAGE exists (build it if not)
#   scripts/ci-postgres-image.sh cleanup   remove every container labelled chord-sync.ci
#   scripts/ci-postgres-image.sh stop      cleanup, then stop the dockerd that `start` started
#
# The engine's socket is $DOCKER_HOST (unix:///run/chord-ci-docker.sock); source `env` to get the
# variables testcontainers needs. The rootfs tarball is cached outside the clone ($CHORD_CI_CACHE,
# default /var/cache/chord-sync), and the imported image lives in the engine's own data root, so a
# later run on the same machine builds nothing. Must run as root (dockerd, debootstrap).
set -euo pipefail

CACHE_DIR="${CHORD_CI_CACHE:-/var/cache/chord-sync}"
DATA_ROOT="${CHORD_CI_DOCKER_ROOT:-/var/lib/chord-ci-docker}"
EXEC_ROOT=/run/chord-ci-docker
SOCKET=/run/chord-ci-docker.sock
PIDFILE=/run/chord-ci-docker.pid
LOGFILE="${CACHE_DIR}/dockerd.log"
IMAGE="${CHORD_TEST_POSTGRES_IMAGE:-chord-sync-ci/postgres:15-bookworm}"
# Bump when the entrypoint or the package list changes, so a stale cached tarball is not reused.
ROOTFS_VERSION=1
ROOTFS="${CACHE_DIR}/postgres15-bookworm-rootfs-v${ROOTFS_VERSION}.tar"
MIRROR="${CHORD_CI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
ENGINE_WAIT_S=60

export DOCKER_HOST="unix://${SOCKET}"

log() { echo "ci-postgres: $*" >&2; }

elapsed_since() { echo "$(( $(date +%s) - $1 ))s"; }

install_tools() {
  if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
    return
  fi
  local t0; t0=$(date +%s)
  log "installing docker.io and debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  log "installed in $(elapsed_since "$t0")"
}

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_engine() {
  install_tools
  mkdir -p "$CACHE_DIR" "$DATA_ROOT" "$EXEC_ROOT"
  if engine_answers; then
    log "dockerd already answers on ${SOCKET}"
    return
  fi
  local t0; t0=$(date +%s)
  # Loopback only: published ports bind 127.0.0.1, nothing is exposed to the network.
  dockerd --data-root "$DATA_ROOT" --exec-root "$EXEC_ROOT" -H "$DOCKER_HOST" --pidfile "$PIDFILE" \
    --ip 127.0.0.1 >"$LOGFILE" 2>&1 &
  local waited=0
  until engine_answers; do
    if ! kill -0 "$!" 2>/dev/null; then
      log "dockerd exited; its log:"; tail -n 30 "$LOGFILE" >&2; exit 1
    fi
    if (( waited >= ENGINE_WAIT_S * 5 )); then
      log "dockerd did not answer within ${ENGINE_WAIT_S}s; its log:"; tail -n 30 "$LOGFILE" >&2; exit 1
    fi
    sleep 0.2; waited=$((waited + 1))
  done
  log "dockerd $(docker version --format '{{.Server.Version}}') up in $(elapsed_since "$t0") (pid $(cat "$PIDFILE"))"
}

# The entrypoint: honours POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB the way the official image
# does (and @testcontainers/postgresql passes them), password (scram) auth over TCP, listens on
# 0.0.0.0:5432. PostgreSQL itself logs "database system is ready to accept connections".
write_entrypoint() {
  cat >"$1" <<'EOF'
#!/bin/sh
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "entrypoint: POSTGRES_PASSWORD must be set" >&2
  exit 1
fi
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != "postgres" ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi
if [ "${1:-postgres}" = "postgres" ]; then
  [ "$#" -gt 0 ] && shift
  exec postgres -D "$PGDATA" "$@"
fi
exec "$@"
EOF
  chmod 755 "$1"
}

# debootstrap mounts /proc (and maybe /sys) in the new root; never pack or delete through a mount.
unmount_under() {
  local mount
  for mount in $(awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$mount" || true
  done
}

build_rootfs() {
  local work="${CACHE_DIR}/rootfs.build"
  unmount_under "$work"
  rm -rf --one-file-system "$work"
  mkdir -p "$work"
  local t0; t0=$(date +%s)
  log "debootstrap bookworm with postgresql-15 from ${MIRROR} (a few minutes)"
  debootstrap --variant=minbase --include=postgresql-15 bookworm "$work" "$MIRROR" >"${CACHE_DIR}/debootstrap.log" 2>&1 ||
    { log "debootstrap failed; its log:"; tail -n 30 "${CACHE_DIR}/debootstrap.log" >&2; exit 1; }
  log "debootstrap done in $(elapsed_since "$t0")"
  # A package's maintainer script may have started its cluster inside the chroot (it shares the
  # host's network): stop anything still running from the new root before packing it.
  local proc
  for proc in /proc/[0-9]*; do
    if [[ "$(readlink "$proc/root" 2>/dev/null)" == "$work" ]]; then
      log "stopping pid ${proc#/proc/} left running in the rootfs"; kill -TERM "${proc#/proc/}" 2>/dev/null || true
    fi
  done
  # The package's default cluster is not used: the entrypoint initialises $PGDATA itself.
  chroot "$work" sh -c 'pg_dropcluster 15 main 2>/dev/null || true; apt-get clean; rm -rf /var/lib/apt/lists/*'
  mkdir -p "$work/var/lib/postgresql/data" "$work/var/run/postgresql"
  chroot "$work" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
  write_entrypoint "$work/usr/local/bin/docker-entrypoint.sh"
  unmount_under "$work"
  tar -C "$work" --one-file-system -cf "${ROOTFS}.partial" .
  mv "${ROOTFS}.partial" "$ROOTFS"
  rm -rf --one-file-system "$work"
  log "rootfs cached at ${ROOTFS} ($(du -h "$ROOTFS" | cut -f1))"
}

ensure_image() {
  if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image ${IMAGE} already imported"
    return
  fi
  [[ -s "$ROOTFS" ]] || build_rootfs
  local t0; t0=$(date +%s)
  docker import \
    --change 'USER postgres' \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    "$ROOTFS" "$IMAGE" >/dev/null
  log "imported ${IMAGE} in $(elapsed_since "$t0")"
}

cleanup_containers() {
  engine_answers || return 0
  local ids
  ids=$(docker ps -aq --filter label=chord-sync.ci) || return 0
  if [[ -n "$ids" ]]; then
    log "removing containers: $(echo "$ids" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    docker rm -f -v $ids >/dev/null || true
  fi
}

stop_engine() {
  cleanup_containers
  [[ -s "$PIDFILE" ]] || return 0
  local pid; pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited < 150 )); do sleep 0.2; waited=$((waited + 1)); done
  if kill -0 "$pid" 2>/dev/null; then
    log "dockerd ${pid} did not stop within 30s; killing it"; kill -KILL "$pid" || true
  fi
  log "dockerd stopped"
}

case "${1:-}" in
  start) start_engine ;;
  image) ensure_image ;;
  cleanup) cleanup_containers ;;
  stop) stop_engine ;;
  *) echo "usage: $0 start|image|cleanup|stop" >&2; exit 2 ;;
esac
