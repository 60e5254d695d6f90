#!/usr/bin/env bash
# Generates the seed corpora: addfd_sequence_fuzzer's from the contract, regression and pattern
# scenarios (each .scn encoded with `addfdlab scn encode`), scenario_text_fuzzer's from
# tests/scn (each valid .scn as text and encoded), rollback_fuzzer's from the rollback matrix
# (every strategy x fault point for k = 1, 2: `rollback-matrix --seeds`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cli=${ADDFDLAB_CLI:-"$root/build/dev/tools/addfdlab"}
out="$root/corpus/addfd_sequence_fuzzer"
mkdir -p "$out"
for scn in "$root"/corpus/contract/*.scn "$root"/corpus/regressions/*.scn \
  "$root"/corpus/patterns/*.scn; do
  name=$(basename "$(dirname "$scn")")_$(basename "$scn" .scn)
  # Cells are text-only; the encoder says so for every file.
  "$cli" scn encode "$scn" -o "$out/$name.bin" --force 2> >(grep -v "cells are text-only" >&2)
done
echo "$(ls "$out" | wc -l) seeds in $out"
text="$root/corpus/scenario_text_fuzzer"
mkdir -p "$text"
for scn in "$root"/tests/scn/*.scn; do
  cp "$scn" "$text/"
  "$cli" scn encode "$scn" -o "$text/$(basename "$scn" .scn).bin" --force 2> >(grep -v "cells are text-only" >&2)
done
echo "$(ls "$text" | wc -l) seeds in $text"
rollback="$root/corpus/rollback_fuzzer"
"$cli" rollback-matrix --k 1 --k 2 --seeds "$rollback" >/dev/null
echo "$(ls "$rollback" | wc -l) seeds in $rollback"
