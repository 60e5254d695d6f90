#!/usr/bin/env bash
# CTest's `vm-debug` label: the debug kernel (vm/debug-kernel/, docs/vm.md).
#   debug_smoke.sh ADDFDLAB WORK key       the cache key follows the fragment and the patches
#   debug_smoke.sh ADDFDLAB WORK contract  the contract suite on the debug kernel: exit 0 (no
#                                          KASAN or lockdep report), the injected cells PASS
#   debug_smoke.sh ADDFDLAB WORK probe     the guest's probe finds the three injections
#   debug_smoke.sh ADDFDLAB WORK lineinfo  vmlinux has line tables for seccomp.o and file.o:
#                                          addr2line names seccomp.c and file.c lines
#   debug_smoke.sh ADDFDLAB WORK fast_reply  the fast-reply race's stress form separates the
#                                          debug kernel (the fix) from debug-unfixed (reverted)
#   debug_smoke.sh ADDFDLAB WORK fuzz      fuzz --vm debug: a campaign in the debug kernel,
#                                          its summary through, no kernel report
#   debug_smoke.sh ADDFDLAB WORK coverage  `coverage --vm debug corpus/contract`: most of
#                                          seccomp_notify_addfd's lines (PCs without line
#                                          information) are reached
# Every mode but `key` builds the kernel it needs when it is not cached (minutes when seeded
# from a built entry, under nice -n 19). Exit 77 (skip) without QEMU or busybox-static
# (scripts/deps.sh vm debug-kernel).
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
    variant=$("$root/vm/debug-kernel/build.sh" --variant unfixed --key) || exit 1
    echo "keys: tree $base, copy $same, option $option, patch $patch, variant unfixed $variant"
    [[ $base =~ ^[0-9a-f]{16}$ && $base == "$same" && $option != "$base" && $patch != "$base" &&
      $patch != "$option" && $variant =~ ^[0-9a-f]{16}$ && $variant != "$base" ]] || exit 1
    # An unknown variant is a usage error, before anything builds.
    "$root/vm/debug-kernel/build.sh" --variant nonexistent --key 2>/dev/null
    [[ $? -eq 2 ]]
    ;;
  lineinfo)
    entry=$("$root/vm/debug-kernel/build.sh") || exit 1
    for pair in seccomp_notify_addfd:kernel/seccomp.c receive_fd:fs/file.c; do
      symbol=${pair%%:*} file=${pair#*:}
      address=$(nm "$entry/vmlinux" | awk -v s="$symbol" '$3 == s { print $1; exit }')
      [[ -n $address ]] || { echo "no $symbol in $entry/vmlinux" >&2; exit 1; }
      line=$(addr2line -e "$entry/vmlinux" "0x$address")
      echo "$symbol 0x$address: $line"
      [[ $line =~ ${file}:[0-9]+$ ]] || exit 1
    done
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
  fast_reply)
    # The stress form of ADDFD.WAIT_KILLABLE.FAST_REPLY on the debug kernel (the fix) and on
    # its variant without it: the fixed one never deviates there, the unfixed one does.
    rounds=${ADDFDLAB_FAST_REPLY_ROUNDS:-3000}
    for kernel in debug debug-unfixed; do
      "$addfdlab" vm run --kernel "$kernel" --work "$work/runs" --findings "$work/findings" -- \
        stress --race fast-reply --rounds "$rounds" --json >"$work/stress-$kernel.json"
      echo "$kernel: stress exit $?"
    done
    python3 - "$work/stress-debug.json" "$work/stress-debug-unfixed.json" <<'PY'
import json, sys
def row(path):
    report = json.load(open(path))
    cell = {r["cell"]: r for r in report["cells"]}["ADDFD.WAIT_KILLABLE.FAST_REPLY"]
    found = [f["signature"] + " x" + str(f["count"]) for f in report["findings"]
             if f["cell"] == "ADDFD.WAIT_KILLABLE.FAST_REPLY"]
    print(path, cell["status"], "reached", cell["reached"], "deviated", cell["deviations"],
          "of", cell["rounds"], found)
    return cell
fixed, unfixed = row(sys.argv[1]), row(sys.argv[2])
assert fixed["reached"] > 0 and fixed["deviations"] == 0 and fixed["status"] == "PASS", fixed
assert unfixed["deviations"] > 0 and unfixed["status"] == "DEVIATES", unfixed
PY
    ;;
  fuzz)
    rm -rf "$work/fuzz" "$work/fuzz-findings"
    "$addfdlab" fuzz --vm debug --time "${ADDFDLAB_VM_FUZZ_SECONDS:-60}" --work "$work/fuzz" \
      --findings "$work/fuzz-findings" >"$work/fuzz.out" 2>"$work/fuzz.err"
    status=$?
    cat "$work/fuzz.out"
    tail -n 5 "$work/fuzz.err" >&2
    # 0, or 1 for a contract finding; never a kernel report (it would be a kernel bug). The
    # guest's jobs collect KCOV PCs in the addfd path (its summary comes through streamed).
    [[ $status -le 1 ]] && grep -q '^addfd_sequence_fuzzer: .* execs' "$work/fuzz.out" &&
      cat "$work/fuzz.out" "$work/fuzz.err" |
      grep -q 'kernel PCs reached in the addfd path: [1-9][0-9]* (.*libFuzzer coverage)' &&
      grep -q '^kernel reports: 0 inputs filed' "$work/fuzz.out" &&
      grep -q '^vm debug: .* brought back: ' "$work/fuzz.out" &&
      ! ls -d "$work"/fuzz-findings/vm-* "$work"/fuzz-findings/kernel-* 2>/dev/null
    ;;
  *)
    echo "debug_smoke.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
