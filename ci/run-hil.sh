#!/usr/bin/env bash
# bx-hil on a self-hosted runner with modules attached: lab file in, reports out, and the exit
# code of `bx-hil run --rig` (0 every outcome met its expectation, 1 a failure or a regression,
# 2 bad input such as an invalid lab file).
#
# Usage: ci/run-hil.sh <lab-file> [out-dir] [-- extra `bx-hil run` arguments]
#
# Environment (all optional):
#   BX_HIL_BASELINE     results.json of the previous firmware: the run compares with it and a
#                       regression makes the exit code 1.
#   BX_HIL_SUITES       space-separated suite names (default: all), e.g. "tls-handshake mqtt".
#   BX_HIL_SHARD        <i>/<n>: run only shard i of n of the test list (identical benches).
#   BX_HIL_DURATIONS    with BX_HIL_SHARD: a results.json whose durations balance the shards.
#   BX_HIL_LOCK_WAIT_S  how long to wait for another job that holds the same rig (default 3600).
#   BX_HIL_NO_INSTALL   set to 1 to skip `npm ci` when node_modules is missing.
#
# Writes into out-dir (default reports/hil): results.json, index.html, junit.xml, evidence/,
# preflight.tap and preflight.xml (JUnit, from tap-junit).
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
  usage
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi

rig="$1"; shift
out="reports/hil"
if [[ $# -gt 0 && "$1" != "--" ]]; then out="$1"; shift; fi
if [[ $# -gt 0 && "$1" == "--" ]]; then shift; fi

if [[ ! -r "$rig" ]]; then
  echo "run-hil: cannot read the lab file '$rig': give the path of a lab YAML/JSON (see docs/lab-file.md)" >&2
  exit 2
fi
rig="$(cd "$(dirname "$rig")" && pwd)/$(basename "$rig")"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

cd "$(dirname "$0")/.."

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [[ "$node_major" -lt 20 ]]; then
  echo "run-hil: Node 20 or later is required (found $(node --version 2>/dev/null || echo none))" >&2
  exit 2
fi
if [[ ! -d node_modules && "${BX_HIL_NO_INSTALL:-0}" != "1" ]]; then
  npm ci --no-audit --no-fund
fi

# One job per rig at a time: two jobs driving the same serial ports would corrupt each other's
# AT sessions. The lock is keyed on the lab file's path.
lock="${TMPDIR:-/tmp}/bx-hil-$(printf '%s' "$rig" | sha256sum | cut -c1-16).lock"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  if ! flock -w "${BX_HIL_LOCK_WAIT_S:-3600}" 9; then
    echo "run-hil: another job still holds the rig ($lock) after ${BX_HIL_LOCK_WAIT_S:-3600} s" >&2
    exit 1
  fi
fi

export NO_COLOR=1 FORCE_COLOR=0

# Preflight as TAP for CI dashboards (the run does its own preflight too; this one only reports).
# Written aside and moved into out-dir after the run: `bx-hil run --out` claims only an empty
# folder or an earlier report of its own.
pre="$(mktemp -d "${TMPDIR:-/tmp}/bx-hil-preflight.XXXXXX")"
trap 'rm -rf "$pre"' EXIT
set +e
npx --no-install bx-hil preflight --lab "$rig" --tap >"$pre/preflight.tap"
preflight_rc=$?
# tap-junit 5 resolves even absolute paths against the working directory: run it inside $pre.
repo="$PWD"
(cd "$pre" && node "$repo/node_modules/tap-junit/bin/tap-junit" -o . -n preflight.xml -s preflight <preflight.tap >/dev/null 2>&1) ||
  echo "run-hil: could not convert preflight.tap to JUnit (tap-junit); the TAP file is kept"
set -e
if [[ $preflight_rc -eq 2 ]]; then
  mv -f "$pre"/preflight.* "$out"/
  echo "run-hil: the lab file is invalid (see above); nothing was run" >&2
  exit 2
fi
[[ $preflight_rc -ne 0 ]] && echo "run-hil: preflight found problems (see $out/preflight.tap); devices that failed it are reported as such"

args=(run --lab "$rig" --out "$out")
[[ -n "${BX_HIL_BASELINE:-}" ]] && args+=(--baseline "$BX_HIL_BASELINE")
if [[ -n "${BX_HIL_SUITES:-}" ]]; then
  # shellcheck disable=SC2206 # word splitting of the suite list is intended
  suites=(${BX_HIL_SUITES})
  args+=(--suite "${suites[@]}")
fi
[[ -n "${BX_HIL_SHARD:-}" ]] && args+=(--shard "$BX_HIL_SHARD")
[[ -n "${BX_HIL_SHARD:-}" && -n "${BX_HIL_DURATIONS:-}" ]] && args+=(--durations "$BX_HIL_DURATIONS")
args+=("$@")

# Forward a cancel from the CI system to bx-hil, which closes ports and brokers on SIGTERM.
child=0
trap 'if [[ $child -ne 0 ]]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; exit 130' INT TERM
set +e
npx --no-install bx-hil "${args[@]}" &
child=$!
wait "$child"
rc=$?
child=0
set -e
mv -f "$pre"/preflight.* "$out"/

echo "run-hil: exit code $rc; report: $out/index.html; JUnit: $out/junit.xml; results: $out/results.json"
exit "$rc"
