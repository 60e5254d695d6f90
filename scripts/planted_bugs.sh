#!/usr/bin/env bash
# Planted bugs: how long a from-empty campaign takes to report a model error on one contract
# cell (docs/fuzzing.md, "Planted bugs"). For each CELL, runs the fuzz build's
# addfd_sequence_fuzzer (one job, no seeds, the target's options, as scripts/fuzz_cells.sh)
# with ADDFDLAB_MUTATE_CELL=CELL, which makes the model predict a wrong outcome for that
# cell, until its first finding or SECONDS; a finding counts when its verdict names CELL.
# Prints one line per cell (seconds to find, or "not found") and the median and worst.
#   scripts/planted_bugs.sh SECONDS CELL...
# e.g. scripts/planted_bugs.sh 600 ADDFD.INTR.QUEUED ADDFD.STRANDED ADDFD.ORDER.LIFO
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: $0 SECONDS CELL..."
[[ $# -ge 2 && $1 =~ ^[0-9]+$ ]] || {
  echo "$usage" >&2
  exit 2
}
seconds=$1
shift
binary=$root/build/fuzz/fuzzers/addfd_sequence_fuzzer
[[ -x $binary ]] || {
  echo "$binary missing: cmake --preset fuzz && cmake --build build/fuzz --target addfd_sequence_fuzzer" >&2
  exit 2
}
work=$(mktemp -d /tmp/addfdlab-planted-XXXXXX)
echo "planted_bugs: logs and crashes in $work" >&2

# shellcheck source=SCRIPTDIR/libfuzzer_flags.sh
. "$root/scripts/libfuzzer_flags.sh"
libfuzzer_flags "$root" addfd_sequence_fuzzer

found_times=()
for cell in "$@"; do
  dir=$work/$cell
  mkdir -p "$dir/corpus"
  start=$(date +%s.%N)
  # Without fork mode libFuzzer stops at the first finding (the target traps).
  ADDFDLAB_MUTATE_CELL=$cell "$binary" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$dir/" "${flags[@]}" "$dir/corpus" >"$dir/log" 2>&1 || true
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
  if grep -q "not a contract cell" "$dir/log"; then
    echo "planted_bugs: not a contract cell: $cell" >&2
    exit 2
  fi
  if grep -q "^addfd_sequence_fuzzer: .*\[$cell\]" "$dir/log"; then
    printf '%-28s found in %6.1f s\n' "$cell" "$elapsed"
    found_times+=("$elapsed")
  elif ls "$dir"/crash-* >/dev/null 2>&1; then
    printf '%-28s other finding after %6.1f s (see %s/log)\n' "$cell" "$elapsed" "$dir"
  else
    printf '%-28s not found in %d s\n' "$cell" "$seconds"
  fi
done
if ((${#found_times[@]} > 0)); then
  printf '%s\n' "${found_times[@]}" | sort -n | awk -v n=$# '
    { t[NR] = $1 }
    END { printf "found %d of %d: median %.1f s, worst %.1f s\n", NR, n,
          (NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2), t[NR] }'
else
  echo "found 0 of $#"
fi
