#!/usr/bin/env bash
# A stand-in for python:3.11-slim-bookworm, whose registry is out of reach here: Debian
# bookworm from Debian's own mirror (debootstrap), with Python 3.11 and venv, `python` for
# python3, the CA certificates, and this machine's CA bundle and pip configuration (so that a
# build inside reaches PyPI as this machine does). Imported as TAG, unless it already exists.
#
#   tests/deploy/base-image.sh TAG
set -euo pipefail
tag="${1:?usage: base-image.sh TAG}"
if docker image inspect "$tag" > /dev/null 2>&1; then
    echo "$tag is there"
    exit 0
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm "$root" http://deb.debian.org/debian > "$root.log" 2>&1 || {
    tail -n 20 "$root.log" >&2
    exit 1
}
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
if [ -f /etc/pip.conf ]; then
    cp /etc/pip.conf "$root/etc/pip.conf"
fi
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import --change "ENV LANG=C.UTF-8" - "$tag"
echo "$tag imported: $(docker image inspect -f '{{.Size}}' "$tag") bytes"
