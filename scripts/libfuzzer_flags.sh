# shellcheck shell=bash
# Sourced by the campaign scripts (fuzz_cells.sh, planted_bugs.sh): the fuzzer binary and
# the [libfuzzer] options of fuzzers/<target>.options as libFuzzer flags, the way
# `addfdlab fuzz` passes them (the dictionary's path made absolute).
#   fuzzer_binary ROOT TARGET     sets `binary`: the fuzz-fast preset's build (no
#                                 sanitizers, as `addfdlab fuzz --build auto` runs the
#                                 kernel-driving target), or with ADDFDLAB_FUZZ_BUILD=asan
#                                 the fuzz preset's (ASan+UBSan); exits 2 when it is not built
#   libfuzzer_flags ROOT TARGET   fills the array `flags`
fuzzer_binary() {
  local root=$1 target=$2 preset=fuzz-fast
  case ${ADDFDLAB_FUZZ_BUILD:-fast} in
    fast) ;;
    asan) preset=fuzz ;;
    *)
      echo "ADDFDLAB_FUZZ_BUILD=${ADDFDLAB_FUZZ_BUILD}: fast or asan" >&2
      exit 2
      ;;
  esac
  binary=$root/build/$preset/fuzzers/$target
  [[ -x $binary ]] || {
    echo "$binary missing: cmake --preset $preset && cmake --build build/$preset --target $target" >&2
    exit 2
  }
}

libfuzzer_flags() {
  local root=$1 target=$2 key value
  flags=()
  while IFS='=' read -r key value; do
    key=$(echo "$key" | tr -d ' ') value=$(echo "$value" | tr -d ' ')
    [[ -z $key || $key == \#* || $key == \[* ]] && continue
    [[ $key == dict ]] && value=$root/fuzzers/$value
    flags+=("-$key=$value")
  done <"$root/fuzzers/$target.options"
}
