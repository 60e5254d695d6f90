#!/usr/bin/env bash
# CTest's `vm-debug` label: the debug kernel (vm/debug-kernel/, docs/vm.md).
#   debug_smoke.sh ADDFDLAB WORK key       the cache key follows the fragment and the patches
#   debug_smoke.sh ADDFDLAB WORK contract  the contract suite on the debug kernel: exit 0 (no
#                                          KASAN or lockdep report), the injected cells PASS
#   debug_smoke.sh ADDFDLAB WORK probe     the guest's probe finds the three injections
#   debug_smoke.sh ADDFDLAB WORK coverage  `coverage --vm debug corpus/contract`: most of
#                                          seccomp_notify_addfd's lines (PCs without line
#                                          information) are reached
# `contract` and `probe` build the debug kernel when it is not cached (minutes, under nice
# -n 19). Exit 77 (skip) without QEMU or busybox-static (scripts/deps.sh vm debug-kernel).
set -uo pipefail
addfdlab=$1 work=$2 mode=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$work"
case $mode in
  key)
    # A copy of vm/debug-kernel with one option changed, then with one patch changed: each
    # gets another key; the unchanged copy gets the tree's.
    copy="$work/key-copy"
    rm -rf "$copy" && cp -r "$root/vm/debug-kernel" "$copy"
    base=$("$root/vm/debug-kernel/build.sh" --key) || exit 1
    same=$("$copy/build.sh" --key) || exit 1
    echo "CONFIG_KCOV_INSTRUMENT_ALL=y" >>"$copy/config.fragment"
    option=$("$copy/build.sh" --key) || exit 1
    cp "$root/vm/debug-kernel/config.fragment" "$copy/config.fragment"
    echo " " >>"$copy"/patches/0001-*.patch
    patch=$("$copy/build.sh" --key) || exit 1
    echo "keys: tree $base, copy $same, option $option, patch $patch"
    [[ $base =~ ^[0-9a-f]{16}$ && $base == "$same" && $option != "$base" && $patch != "$base" &&
      $patch != "$option" ]]
    ;;
  contract | probe | coverage)
    if ! command -v qemu-system-x86_64 >/dev/null || [[ ! -x /bin/busybox ]]; then
      echo "no qemu-system-x86_64 or /bin/busybox: scripts/deps.sh vm" >&2
      exit 77
    fi
    run=("$addfdlab" vm run --kernel debug --work "$work/runs" --findings "$work/findings")
    if [[ $mode == coverage ]]; then
      out="$work/coverage-$(date +%s)-$$"
      "$addfdlab" coverage --vm debug --out "$out" --work "$work/runs" \
        --findings "$work/findings" corpus/contract >"$work/coverage.txt" || exit 1
      python3 - "$out/report.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print(text)
m = re.search(r"seccomp_notify_addfd: PCs (\d+)/(\d+)(?:, lines (\d+)/(\d+))?", text)
assert m, "no seccomp_notify_addfd row"
reached, total = (int(m.group(3)), int(m.group(4))) if m.group(3) else (int(m.group(1)), int(m.group(2)))
assert total > 0 and reached / total >= 0.6, (reached, total)
PY
    elif [[ $mode == probe ]]; then
      "${run[@]}" -- probe --json >"$work/probe.json" || exit 1
      python3 - "$work/probe.json" <<'PY'
import json, sys
features = json.load(open(sys.argv[1]))["features"]
for name in ("fail_nth", "inject_lsm", "inject_nomem", "inject_nr_open", "in_vm"):
    print(name, features[name])
    assert features[name]["available"], name
PY
    else
      "${run[@]}" -- contract --json >"$work/contract.json" || exit 1
      python3 - "$work/contract.json" <<'PY'
import json, sys
rows = {row["cell"]: row for row in json.load(open(sys.argv[1]))["cells"]}
for cell in ("ADDFD.SETFD.NR_OPEN", "ADDFD.NOMEM", "ADDFD.LSM"):
    print(cell, rows[cell]["status"], rows[cell]["reason"])
    assert rows[cell]["status"] == "PASS", cell
PY
    fi
    ;;
  *)
    echo "debug_smoke.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
