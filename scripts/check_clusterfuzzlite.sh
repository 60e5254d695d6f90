#!/usr/bin/env bash
# Checks .clusterfuzzlite/build.sh without Docker: builds a copy of the work tree the way
# OSS-Fuzz's base-builder does (clang-19, libc++, its ASan flags, $SRC/$WORK/$OUT), then
# checks $OUT: each fuzz target runs its unpacked seed corpus once (-runs=0) with the options
# and dictionary ClusterFuzz would give it. Exit 0 when everything holds, 1 otherwise.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start=$SECONDS

"$root/scripts/deps.sh" build fuzz

tmp=$(mktemp -d "${TMPDIR:-/tmp}/addfdlab-cflite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export SRC=$tmp/src WORK=$tmp/work OUT=$tmp/out
mkdir -p "$SRC/addfdlab" "$WORK" "$OUT"

# $SRC/addfdlab: what `COPY . $SRC/addfdlab` would take, less what git ignores (the tracked
# and untracked files of the work tree, so that uncommitted changes are checked too).
git -C "$root" ls-files -z --cached --others --exclude-standard |
  tar -C "$root" --null --files-from=- --ignore-failed-read -cf - 2>/dev/null |
  tar -C "$SRC/addfdlab" -xf -
cp "$root/.clusterfuzzlite/build.sh" "$SRC/build.sh"

# base-builder's environment for FUZZING_ENGINE=libfuzzer SANITIZER=address.
export CC=clang-19 CXX=clang++-19
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only \
-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -fsanitize=address \
-fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
export CXXFLAGS="$CFLAGS -stdlib=libc++"
# OSS-Fuzz's libFuzzer carries its own C++ runtime; Debian's needs libstdc++ (named by file:
# with -stdlib=libc++, clang turns -lstdc++ into -lc++).
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer -l:libstdc++.so.6"
export FUZZING_ENGINE=libfuzzer SANITIZER=address ARCHITECTURE=x86_64 FUZZING_LANGUAGE=c++

echo "check_clusterfuzzlite: running .clusterfuzzlite/build.sh in $tmp" >&2
if ! (cd "$SRC/addfdlab" && bash -eu "$SRC/build.sh") >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log" >&2
  echo "check_clusterfuzzlite: FAIL: build.sh failed (last lines above)" >&2
  exit 1
fi
build_seconds=$((SECONDS - start))

failures=0
fail() {
  echo "check_clusterfuzzlite: FAIL: $*" >&2
  failures=$((failures + 1))
}

# The [libfuzzer] section of an options file as flags, dict resolved in $OUT.
options_flags() {
  awk -v out="$OUT" '
    /^[ \t]*[#;]/ || /^[ \t]*$/ { next }
    /^[ \t]*\[/ { section = ($0 ~ /^[ \t]*\[libfuzzer\][ \t]*$/); next }
    section && index($0, "=") {
      key = substr($0, 1, index($0, "=") - 1); value = substr($0, index($0, "=") + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", value)
      if (key == "dict") value = out "/" value
      print "-" key "=" value
    }' "$1"
}

fuzzers=()
for source in "$SRC"/addfdlab/fuzzers/*_fuzzer.cc; do
  fuzzers+=("$(basename "$source" .cc)")
done
for fuzzer in "${fuzzers[@]}"; do
  binary=$OUT/$fuzzer
  if [[ ! -x $binary ]]; then
    fail "$fuzzer: no executable $binary"
    continue
  fi
  if ldd "$binary" | grep -E 'not found|libseccomp' >&2; then
    fail "$fuzzer: needs shared libraries that the runner image does not have (above)"
  fi
  options=$OUT/$fuzzer.options
  if ! grep -q '^\[libfuzzer\]' "$options" 2>/dev/null; then
    fail "$fuzzer: $options missing or without a [libfuzzer] section"
    continue
  fi
  mapfile -t flags < <(options_flags "$options")
  dict=$OUT/$fuzzer.dict
  if [[ ! -s $dict ]]; then
    fail "$fuzzer: $dict missing or empty"
  elif [[ " ${flags[*]} " != *" -dict=$dict "* ]]; then
    fail "$fuzzer: $options does not name $fuzzer.dict"
  fi
  zip=$OUT/${fuzzer}_seed_corpus.zip
  seeds=$tmp/seeds/$fuzzer
  if ! python3 - "$zip" "$seeds" <<'EOF'; then
import sys, zipfile
try:
    with zipfile.ZipFile(sys.argv[1]) as z:
        names = [n for n in z.namelist() if not n.endswith("/")]
        bad = z.testzip()
        if bad or not names:
            sys.exit(f"{bad or 'no inputs'}")
        z.extractall(sys.argv[2])
except (OSError, zipfile.BadZipFile) as e:
    sys.exit(str(e))
EOF
    fail "$fuzzer: $zip is missing, empty or corrupt"
    continue
  fi
  count=$(find "$seeds" -type f | wc -l)
  log=$tmp/$fuzzer.log
  # -runs=0: every seed once, no mutations. libFuzzer refuses a dictionary it cannot parse.
  if ! "$binary" "${flags[@]}" -runs=0 "$seeds" >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    fail "$fuzzer: did not run its $count seeds cleanly (last lines above)"
    continue
  fi
  entries=$(sed -n 's/^Dictionary: \([0-9]*\) entries$/\1/p' "$log")
  if [[ -f $dict && ${entries:-0} -eq 0 ]]; then
    fail "$fuzzer: libFuzzer loaded no entries from $fuzzer.dict"
  fi
  if ! grep -q 'INITED' "$log"; then
    tail -n 30 "$log" >&2
    fail "$fuzzer: libFuzzer did not finish reading its seeds"
    continue
  fi
  coverage=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log")
  echo "check_clusterfuzzlite: $fuzzer: $count seeds ran (cov ${coverage:-?})," \
    "${entries:-0} dictionary entries; ${flags[*]/#-dict=$OUT\//-dict=}" >&2
done

elapsed=$((SECONDS - start))
if ((failures > 0)); then
  echo "check_clusterfuzzlite: $failures problem(s); build ${build_seconds}s, total ${elapsed}s" >&2
  exit 1
fi
echo "check_clusterfuzzlite: OK: ${#fuzzers[@]} fuzz targets (${fuzzers[*]});" \
  "build ${build_seconds}s, total ${elapsed}s"
