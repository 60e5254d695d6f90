#!/usr/bin/env bash
# Planted bugs: how long a from-empty campaign takes to report a model error on one contract
# cell (docs/fuzzing.md, "Planted bugs"). For each CELL, runs addfd_sequence_fuzzer
# (fuzzer_binary in libfuzzer_flags.sh: fuzz-fast, or ADDFDLAB_FUZZ_BUILD=asan; one job, no
# seeds, the target's options, as scripts/fuzz_cells.sh) with ADDFDLAB_MUTATE_CELL=CELL,
# which makes the model predict a wrong outcome for that cell (or, for a mechanism cell such
# as ADDFD.ORDER.LIFO, break its rule), until the planted bug is found or SECONDS pass. A
# finding is the planted bug's when its verdict names CELL, or when its input replays clean
# with the honest model and deviates with the planted one (a mechanism's bug shows under
# the cell that decides the outcome); another finding is counted and the campaign goes on.
# Prints one line per cell (seconds to find, or "not found"), then the median and the worst.
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
# shellcheck source=SCRIPTDIR/libfuzzer_flags.sh
. "$root/scripts/libfuzzer_flags.sh"
fuzzer_binary "$root" addfd_sequence_fuzzer
libfuzzer_flags "$root" addfd_sequence_fuzzer
work=$(mktemp -d /tmp/addfdlab-planted-XXXXXX)
echo "planted_bugs: logs and crashes in $work" >&2

# True when INPUT replays clean with the honest model and deviates with CELL's planted bug:
# the finding is the planted bug's, whichever cell its verdict names.
planted_only() {
  local cell=$1 input=$2
  ADDFDLAB_MUTATE_CELL='' "$root/addfdlab" repro "$input" >/dev/null 2>&1 || return 1
  ! ADDFDLAB_MUTATE_CELL=$cell "$root/addfdlab" repro "$input" >/dev/null 2>&1
}

found_times=()
for cell in "$@"; do
  dir=$work/$cell
  mkdir -p "$dir/corpus"
  start=$(date +%s.%N)
  others=0
  verdict=""
  # Without fork mode libFuzzer stops at the first finding (the target traps). Another
  # cell's finding (a false one, or a real kernel deviation) is counted and the campaign
  # goes on from the corpus it has built, until the planted cell's or the time is up.
  while [[ -z $verdict ]]; do
    left=$(echo "$seconds - ($(date +%s.%N) - $start)" | bc | cut -d. -f1)
    if [[ -z $left || $left -le 0 ]]; then
      verdict=none
      break
    fi
    log=$dir/log.$others
    ADDFDLAB_MUTATE_CELL=$cell "$binary" -max_total_time="$left" -print_final_stats=1 \
      -artifact_prefix="$dir/" "${flags[@]}" "$dir/corpus" >"$log" 2>&1 || true
    if grep -q "not a contract cell" "$log"; then
      echo "planted_bugs: not a contract cell: $cell" >&2
      exit 2
    fi
    crash=$(sed -n 's/^.*Test unit written to //p' "$log" | tail -1)
    if grep -q "^addfd_sequence_fuzzer: .*\[$cell\]" "$log"; then
      verdict=found
    elif [[ -n $crash && -f $crash ]] && planted_only "$cell" "$crash"; then
      verdict=found
    elif grep -q "^addfd_sequence_fuzzer: " "$log"; then
      others=$((others + 1))
    else
      verdict=none
    fi
  done
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
  note=""
  ((others == 0)) || note=" ($others other findings on the way; logs in $dir)"
  if [[ $verdict == found ]]; then
    printf '%-28s found in %6.1f s%s\n' "$cell" "$elapsed" "$note"
    found_times+=("$elapsed")
  else
    printf '%-28s not found in %d s%s\n' "$cell" "$seconds" "$note"
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
