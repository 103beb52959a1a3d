#!/bin/sh
# One-shot service of the `bx-hil` compose profile: the certificates of a bx-hil scenario (default
# S1) for Mosquitto, plus upload.at, the AT sequence that stores the matching root, device
# certificate and key in the module. Runs the repository's own CLI (`npm ci` on the host first).
#
# Usage: bx-hil-certs.sh [out-dir]     (default /certs)
# Environment: BX_HIL_SCENARIO (default S1), BX_HIL_CERT_HOST (default localhost: the name the
#   module dials, which the server certificate is made for), BX_HIL_CERT_OWNER (default 1883:1883).
set -eu
out="${1:-/certs}"
cd "$(dirname "$0")/../.."
node bin/bx-hil.js certs --scenario "${BX_HIL_SCENARIO:-S1}" --host "${BX_HIL_CERT_HOST:-localhost}" --out "$out"
# mosquitto drops root before it reads its key (docs/reference/dependencies.md P11).
chmod 640 "$out/server.key"
if [ "$(id -u)" = "0" ]; then chown "${BX_HIL_CERT_OWNER:-1883:1883}" "$out/server.key"; fi
