#!/usr/bin/env bash
# Contract cells reached by addfd_sequence_fuzzer from an EMPTY corpus, one job, over time:
# the measure of the structure-aware mutator (docs/fuzzing.md). Runs the fuzzer binary
# (fuzzer_binary in libfuzzer_flags.sh: fuzz-fast, or ADDFDLAB_FUZZ_BUILD=asan) as
# `addfdlab fuzz --jobs 1` does (fork mode, crashes ignored, the target's options) on an
# empty scratch folder, and prints the cells reached at each checkpoint, then libFuzzer's last
# status line (executions, coverage) and the reachable cells still missing. --target
# model_fuzzer measures that target's executions and coverage the same way (it has no cells).
#   scripts/fuzz_cells.sh [--no-mutator] [--target T] SECONDS [CHECKPOINT...]
# e.g. scripts/fuzz_cells.sh 1800 60 300 1800; --no-mutator sets ADDFDLAB_NO_MUTATOR=1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=addfd_sequence_fuzzer
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --no-mutator) export ADDFDLAB_NO_MUTATOR=1; shift ;;
    --target) target=$2; shift 2 ;;
    *) echo "usage: $0 [--no-mutator] [--target T] SECONDS [CHECKPOINT...]" >&2; exit 2 ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--no-mutator] [--target T] SECONDS [CHECKPOINT...]" >&2; exit 2; }
seconds=$1
shift
checkpoints=("$@")
# shellcheck source=SCRIPTDIR/libfuzzer_flags.sh
. "$root/scripts/libfuzzer_flags.sh"
fuzzer_binary "$root" "$target"
work=$(mktemp -d /tmp/addfdlab-cells-XXXXXX)
# Kept when something crashed, for `addfdlab repro`; removed otherwise.
trap 'if ls "$work"/crashes/crash-* >/dev/null 2>&1; then echo "crashes kept in $work/crashes"; else rm -rf "$work"; fi' EXIT
mkdir "$work/corpus" "$work/crashes"
: >"$work/cells.txt"
export ADDFDLAB_CELLS_FILE=$work/cells.txt
libfuzzer_flags "$root" "$target"
"$binary" -fork=1 -ignore_crashes=1 -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" "${flags[@]}" "$work/corpus" >"$work/log" 2>&1 &
pid=$!
start=$SECONDS
count() { sort -u "$work/cells.txt" | grep -c . || true; }
for checkpoint in "${checkpoints[@]}"; do
  while kill -0 "$pid" 2>/dev/null && ((SECONDS - start < checkpoint)); do sleep 1; done
  echo "$((SECONDS - start))s: $(count) cells"
done
wait "$pid" || true
echo "end ($((SECONDS - start))s): $(count) cells"
grep -E '^#[0-9]+: cov:' "$work/log" | tail -1 || true
cli=${ADDFDLAB_CLI:-$root/build/dev/tools/addfdlab}
if [[ $target == addfd_sequence_fuzzer && -x $cli ]]; then
  "$cli" cells --json | python3 -c '
import json, sys
reached = set(open(sys.argv[1]).read().split())
cells = [c["cell"] for c in json.load(sys.stdin)["cells"] if c["reachable"]]
print("reached %d of the %d reachable cells" % (len(reached & set(cells)), len(cells)))
missing = [c for c in cells if c not in reached]
print("missing: " + (" ".join(missing) if missing else "none"))' "$work/cells.txt"
fi
