# shellcheck shell=bash
# Sourced by the campaign scripts (fuzz_cells.sh, planted_bugs.sh): the [libfuzzer] options
# of fuzzers/<target>.options as libFuzzer flags, the way `addfdlab fuzz` passes them (the
# dictionary's path made absolute).
#   libfuzzer_flags ROOT TARGET   fills the array `flags`
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
