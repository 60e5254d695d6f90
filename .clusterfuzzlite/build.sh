#!/bin/bash
# ClusterFuzzLite / OSS-Fuzz build: every fuzzers/*_fuzzer.cc target, compiled with the
# engine's $CC $CXX $CFLAGS $CXXFLAGS and linked with $LIB_FUZZING_ENGINE, into $OUT with its
# seed corpus, dictionary and options. scripts/check_clusterfuzzlite.sh runs it outside Docker.
set -euo pipefail

src=$SRC/addfdlab
build=${WORK:-/tmp}/addfdlab-build

# $CFLAGS already carry the sanitizers and the coverage instrumentation: the project adds
# neither (ADDFDLAB_SANITIZE and ADDFDLAB_FUZZ_INSTRUMENT empty), only its warnings.
cmake_args=(
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX"
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS"
  -DADDFDLAB_FUZZ=ON -DADDFDLAB_FUZZ_ENGINE="$LIB_FUZZING_ENGINE"
  -DADDFDLAB_FUZZ_INSTRUMENT= -DADDFDLAB_SANITIZE=
  -DADDFDLAB_TESTS=OFF -DADDFDLAB_BENCH=OFF -DADDFDLAB_TOOLS=OFF
)
command -v ninja >/dev/null && cmake_args+=(-G Ninja)
# The runner image has no libseccomp2: link the archive (pkg_check_modules' cache entry).
seccomp_archive=$(pkg-config --variable=libdir libseccomp)/libseccomp.a
if [[ -f $seccomp_archive ]]; then
  cmake_args+=(-Dpkgcfg_lib_SECCOMP_seccomp="$seccomp_archive")
else
  echo "build.sh: $seccomp_archive missing; linking libseccomp dynamically" >&2
fi
cmake -S "$src" -B "$build" "${cmake_args[@]}"

fuzzers=()
for source in "$src"/fuzzers/*_fuzzer.cc; do
  fuzzers+=("$(basename "$source" .cc)")
done
cmake --build "$build" --target "${fuzzers[@]}"

for fuzzer in "${fuzzers[@]}"; do
  cp "$build/fuzzers/$fuzzer" "$OUT/"
  # model_fuzzer reads addfd_sequence_fuzzer's inputs and shares its seeds.
  seeds=$src/corpus/$fuzzer
  if [[ $fuzzer == model_fuzzer && ! -d $seeds ]]; then
    seeds=$src/corpus/addfd_sequence_fuzzer
  fi
  if [[ -d $seeds ]]; then
    rm -f "$OUT/${fuzzer}_seed_corpus.zip"
    zip -q -j "$OUT/${fuzzer}_seed_corpus.zip" "$seeds"/*
  fi
  # cp follows the symlinks (model_fuzzer.dict): $OUT gets regular files.
  for extra in dict options; do
    if [[ -f $src/fuzzers/$fuzzer.$extra ]]; then
      cp "$src/fuzzers/$fuzzer.$extra" "$OUT/$fuzzer.$extra"
    fi
  done
done
# The kernel bugs the harness knows (matched by behaviour): the targets read it beside
# themselves, since the runner has no source tree.
cp "$src/corpus/contract/known-deviations.json" "$OUT/"
echo "build.sh: ${fuzzers[*]} in $OUT"
