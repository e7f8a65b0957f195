#!/usr/bin/env bash
# Start Debian's dockerd (overlay2) unless a Docker engine already answers; wait until it does.
set -euo pipefail
if docker info > /dev/null 2>&1; then
    exit 0
fi
log="${TMPDIR:-/tmp}/deleton-dockerd.log"
nohup dockerd --storage-driver=overlay2 > "$log" 2>&1 &
for _ in $(seq 1 120); do
    if docker info > /dev/null 2>&1; then
        echo "dockerd $(docker version --format '{{.Server.Version}}') is up"
        exit 0
    fi
    sleep 0.5
done
echo "dockerd did not start within 60 s: see $log" >&2
tail -n 20 "$log" >&2
exit 1
