#!/usr/bin/env bash
# Idempotent: starts the local services the integration tests use (PostgreSQL, NATS with JetStream) if they
# are installed but not running, and waits until each answers. Used by .ci/run.
set -euo pipefail

wait_port() { # host port name
  for _ in $(seq 1 60); do
    if (echo > "/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "start-services: $3 did not come up on $1:$2" >&2
  return 1
}

if ! (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
wait_port 127.0.0.1 5432 PostgreSQL

if ! (echo > /dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  if [ -x /usr/sbin/nats-server ]; then
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
      -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  fi
fi
wait_port 127.0.0.1 4222 NATS
echo "start-services: PostgreSQL and NATS are up"
