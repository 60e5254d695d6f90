#!/usr/bin/env bash
# The kernel tests without root's scheduling privilege, as CI runs them after `make test`:
# as root without CAP_SYS_NICE (a default container) and as an ordinary user (uid 65534, no
# capabilities). Both get the idle scheduling mode (docs/architecture.md, "Determinism"),
# which neither may break. Needs build/dev (`make test`) and setpriv (util-linux); LABELS
# picks the tests (default: kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
labels=${LABELS:-kernel}
user=65534
repo=$PWD
scratch=$(mktemp -d /tmp/addfdlab-unprivileged-XXXXXX)
chmod 755 "$scratch"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/home"
chown $user:$user "$scratch/home"

no_sys_nice=(setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice)
as_user=(setpriv "--reuid=$user" "--regid=$user" --clear-groups --inh-caps=-all env
  HOME="$scratch/home")

# Runs the build's tests in `build` as `how`. ctest writes its logs into the tree it runs
# in: a scratch one, owned by whoever runs it, that includes the build's tests.
run_tests() {
  local name=$1 build=$2 owner=$3
  shift 3
  mkdir -p "$scratch/$name"
  echo "subdirs(\"$build\")" >"$scratch/$name/CTestTestfile.cmake"
  chown -R "$owner" "$scratch/$name"
  "$@" ctest --test-dir "$scratch/$name" -L "$labels" --output-on-failure --timeout 300
}

echo "test_unprivileged.sh: the $labels tests as root without CAP_SYS_NICE" >&2
run_tests no-sys-nice "$repo/build/dev" root "${no_sys_nice[@]}"

echo "test_unprivileged.sh: the $labels tests as uid $user" >&2
if "${as_user[@]}" test -x "$repo/build/dev/tools/addfdlab" -a \
  -r "$repo/corpus/contract/known-deviations.json"; then
  run_tests user "$repo/build/dev" $user "${as_user[@]}"
else
  # The user cannot reach this tree (a clone under /root): a clone of its own, built by it.
  git clone -q --no-hardlinks "$repo" "$scratch/clone"
  chown -R $user:$user "$scratch/clone"
  "${as_user[@]}" sh -c "cd '$scratch/clone' && cmake --preset dev >/dev/null &&
    cmake --build --preset dev"
  run_tests user "$scratch/clone/build/dev" $user "${as_user[@]}"
fi
