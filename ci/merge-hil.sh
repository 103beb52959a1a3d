#!/usr/bin/env bash
# The last job of a lab pipeline: every bench's report in, one report for the whole lab out.
# Runs `bx-hil merge` over <reports-dir>/*/results.json (each bench's artifact unpacked in its
# own folder, evidence beside it), then, when a baseline is there, `bx-hil compare` of the last
# merged report of main against this one.
#
# Usage: ci/merge-hil.sh <reports-dir> [out-dir]
#
# Environment (all optional):
#   BX_HIL_BASELINE    results.json of the last merged run on main; skipped when the file is absent.
#   BX_HIL_NO_INSTALL  set to 1 to skip `npm ci` when node_modules is missing.
#
# Writes into out-dir (default reports/lab): results.json, index.html, junit.xml (publish it as
# the one JUnit check), merge.json (inputs and conflicts), inputs/<bench>/evidence/ and, with a
# baseline, compare.txt. Exit code: 0 all good; 1 a test failed, a conflict (a test in two
# inputs) or a regression against the baseline; 2 bad input (no results.json found, a malformed
# one, a missing evidence folder).
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

if [[ $# -lt 1 || "$1" == "-h" || "$1" == "--help" ]]; then
  usage
  [[ $# -lt 1 ]] && exit 2 || exit 0
fi

reports="$1"
out="${2:-reports/lab}"
if [[ ! -d "$reports" ]]; then
  echo "merge-hil: '$reports' is not a folder: give the folder the benches' reports were downloaded into" >&2
  exit 2
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
shopt -s nullglob
inputs=()
for f in "$reports"/*/results.json; do
  dir="$(cd "$(dirname "$f")" && pwd)"
  [[ "$dir" == "$out" ]] && continue # an earlier merged report in the same folder is not a bench
  inputs+=("$dir/results.json")
done
if [[ ${#inputs[@]} -eq 0 ]]; then
  echo "merge-hil: no <bench>/results.json under '$reports': did the bench jobs upload their reports?" >&2
  exit 2
fi
baseline=""
if [[ -n "${BX_HIL_BASELINE:-}" ]]; then
  if [[ -f "$BX_HIL_BASELINE" ]]; then
    baseline="$(cd "$(dirname "$BX_HIL_BASELINE")" && pwd)/$(basename "$BX_HIL_BASELINE")"
  else
    echo "merge-hil: no baseline at $BX_HIL_BASELINE (first run on main?): nothing to compare with"
  fi
fi

cd "$(dirname "$0")/.."
if [[ ! -d node_modules && "${BX_HIL_NO_INSTALL:-0}" != "1" ]]; then
  npm ci --no-audit --no-fund
fi
export NO_COLOR=1 FORCE_COLOR=0

set +e
npx --no-install bx-hil merge "${inputs[@]}" --out "$out"
merge_rc=$?
set -e
if [[ $merge_rc -eq 2 ]]; then
  echo "merge-hil: bad input (see above); no merged report" >&2
  exit 2
fi

compare_rc=0
if [[ -n "$baseline" ]]; then
  set +e
  npx --no-install bx-hil compare "$baseline" "$out/results.json" --baseline-label "main" --candidate-label "this run" |
    tee "$out/compare.txt"
  compare_rc=${PIPESTATUS[0]}
  set -e
fi

rc=$((merge_rc > compare_rc ? merge_rc : compare_rc))
echo "merge-hil: exit code $rc; report: $out/index.html; JUnit: $out/junit.xml; results: $out/results.json"
exit "$rc"
