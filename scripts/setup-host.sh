#!/usr/bin/env bash
# Idempotent host set-up for the sandbox tiers on Debian (run as root):
#   Tier0 process  -> bubblewrap (+ cgroups, already in the kernel)
#   Tier1 docker   -> docker.io; dockerd started WITHOUT touching the host network (no iptables, no bridge)
#   Tier2 gvisor   -> runsc, registered with dockerd as the runtime "runsc"
#   base image     -> local/symbiont-sandbox:1 imported from a busybox-static root filesystem (no registry)
# Safe to run again: installs only what is missing, restarts dockerd only when runsc is not yet registered,
# and rebuilds the image only when it is absent. Used by .ci/run.
set -euo pipefail

IMAGE="${SYMBIONT_SANDBOX_IMAGE:-local/symbiont-sandbox:1}"
DOCKERD_LOG=/var/log/dockerd.log

log() { echo "setup-host: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup-host: must run as root (installs packages and starts dockerd)" >&2
  exit 1
fi

# --- packages (one apt-get update, only when something is missing) ---
missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v dockerd >/dev/null || missing+=(docker.io)
command -v runsc >/dev/null || missing+=(runsc)
[ -x /bin/busybox ] || missing+=(busybox-static)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # No init system here: keep the packages' maintainer scripts from trying to start services.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# --- runsc registered with dockerd ---
RUNSC_PATH="$(command -v runsc)"
mkdir -p /etc/docker
want_daemon_json="{\"runtimes\":{\"runsc\":{\"path\":\"${RUNSC_PATH}\",\"runtimeArgs\":[\"--network=none\"]}}}"
if [ ! -f /etc/docker/daemon.json ] || ! grep -q '"runsc"' /etc/docker/daemon.json; then
  if [ -f /etc/docker/daemon.json ] && [ -s /etc/docker/daemon.json ]; then
    # Keep whatever else is configured; add the runtime with node (always present for this project).
    node -e '
      const fs = require("fs");
      const p = "/etc/docker/daemon.json";
      const cfg = JSON.parse(fs.readFileSync(p, "utf8") || "{}");
      cfg.runtimes = { ...(cfg.runtimes || {}), runsc: { path: process.argv[1], runtimeArgs: ["--network=none"] } };
      fs.writeFileSync(p, JSON.stringify(cfg, null, 2) + "\n");
    ' "$RUNSC_PATH"
  else
    echo "$want_daemon_json" >/etc/docker/daemon.json
  fi
  log "registered runsc in /etc/docker/daemon.json"
fi

docker_up() { docker info >/dev/null 2>&1; }

start_dockerd() {
  log "starting dockerd (no iptables, no bridge: only --network none containers)"
  # setsid: dockerd must outlive this script and the CI step that ran it.
  setsid dockerd --iptables=false --ip6tables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if docker_up; then return 0; fi
    sleep 0.5
  done
  echo "setup-host: dockerd did not answer within 60 s; see $DOCKERD_LOG" >&2
  tail -n 30 "$DOCKERD_LOG" >&2 || true
  return 1
}

if docker_up; then
  if ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
    log "dockerd is running without runsc; restarting it to load daemon.json"
    pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [ -n "$pid" ]; then
      kill "$pid"
      for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
      done
    fi
    start_dockerd
  fi
else
  # A stale pid file from a dead daemon blocks a new one.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  start_dockerd
fi

# --- local base image from a busybox-static root filesystem ---
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "building $IMAGE from busybox-static"
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,workspace,proc,sys,dev,root,home}
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf /bin/busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nsandbox:x:65534:65534:sandbox:/workspace:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nsandbox:x:65534:\n' >"$rootfs/etc/group"
  chmod 1777 "$rootfs/tmp"
  chown 65534:65534 "$rootfs/workspace"
  tar -C "$rootfs" -c . | docker import \
    -c 'ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin' -c 'WORKDIR /workspace' -c 'USER 65534:65534' \
    - "$IMAGE" >/dev/null
fi

log "ready: bwrap $(bwrap --version | awk '{print $2}'), docker $(docker version --format '{{.Server.Version}}'), runtimes $(docker info --format '{{range $k, $v := .Runtimes}}{{$k}} {{end}}'), image $IMAGE"
