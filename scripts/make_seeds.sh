#!/usr/bin/env bash
# Generates the seed corpus of addfd_sequence_fuzzer from the contract and regression
# scenarios: each .scn encoded to the binary form with `addfdlab scn encode`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cli=${ADDFDLAB_CLI:-"$root/build/dev/tools/addfdlab"}
out="$root/corpus/addfd_sequence_fuzzer"
mkdir -p "$out"
for scn in "$root"/corpus/contract/*.scn "$root"/corpus/regressions/*.scn; do
  name=$(basename "$(dirname "$scn")")_$(basename "$scn" .scn)
  # Cells are text-only; the encoder says so for every file.
  "$cli" scn encode "$scn" -o "$out/$name.bin" --force 2> >(grep -v "cells are text-only" >&2)
done
echo "$(ls "$out" | wc -l) seeds in $out"
