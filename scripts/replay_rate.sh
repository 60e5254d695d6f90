#!/usr/bin/env bash
# How deterministic the kernel runs are: replays every contract and regression scenario
# RUNS times in total (spread evenly over the scenarios) with `addfdlab repro --runs` and
# counts the runs whose verdict differs from the first run of the same scenario.
#
#   scripts/replay_rate.sh [--preset dev|asan] [--runs 10000] [--out FILE] [SCN...]
#
# A consistent deviation (ADDFD.INTR.SEND on kernels with that bug) counts as reproducible;
# only a verdict that changes between runs counts against the rate. Exit status: 0 when at
# least 99.9% of runs agree with their scenario's first run, 1 otherwise, 2 on usage errors.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=dev
total=10000
out=
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --preset) preset=$2; shift 2 ;;
    --runs) total=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "replay_rate: unknown option $1" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
  esac
done
cli=build/$preset/tools/addfdlab
if [ ! -x "$cli" ]; then
  echo "replay_rate: $cli missing (cmake --preset $preset && cmake --build --preset $preset)" >&2
  exit 2
fi
if [ ${#files[@]} -eq 0 ]; then files=(corpus/contract/*.scn corpus/regressions/*.scn); fi
per=$(((total + ${#files[@]} - 1) / ${#files[@]}))

runs=0
differ=0
reruns=0
report=$(mktemp)
trap 'rm -f "$report"' EXIT
for scn in "${files[@]}"; do
  output=$("$cli" repro "$scn" --runs "$per" || true)
  line=$(grep '^same verdict as the first run: ' <<<"$output" || true)
  repeated=$(grep '^runs repeated because' <<<"$output" || true)
  if [ -n "$repeated" ]; then reruns=$((reruns + ${repeated##*: })); fi
  if [ -z "$line" ]; then
    echo "replay_rate: $scn: no result" >&2
    exit 2
  fi
  same=${line##*: }
  same=${same%/*}
  runs=$((runs + per))
  differ=$((differ + per - same))
  printf '%s\t%d/%d differ\t%s\n' "$scn" "$((per - same))" "$per" "${repeated##*: }" >>"$report"
  if [ "$same" -ne "$per" ]; then
    sed -n '/^first differing run/,$p' <<<"$output" | sed 's/^/    /' >>"$report"
  fi
done
grep -v $'\t0/' "$report" || true
rate=$(awk -v r="$runs" -v d="$differ" 'BEGIN { printf "%.3f", 100 * (r - d) / r }')
summary="preset $preset, kernel $(uname -r): $runs runs of ${#files[@]} scenarios, $differ differ from their first run: $rate% reproduce ($reruns runs repeated after a target ran outside a quiescence point)"
echo "$summary"
if [ -n "$out" ]; then
  cat "$report" >"$out"
  echo "$summary" >>"$out"
fi
awk -v r="$runs" -v d="$differ" 'BEGIN { exit (1000 * d <= r) ? 0 : 1 }'
