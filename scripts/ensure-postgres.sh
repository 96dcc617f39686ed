#!/usr/bin/env bash
# Make sure the PostgreSQL the store tests use answers on 127.0.0.1:5432 (trust auth,
# database `test`), starting or installing it when needed.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ready; then exit 0; fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx main; then
  pg_createcluster "$version" main --port 5432 >/dev/null
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && break; sleep 1; done
ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
# The tests connect as postgres to database `test` without a password.
cd / && runuser -u postgres -- psql -qtAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
  || runuser -u postgres -- createdb test
