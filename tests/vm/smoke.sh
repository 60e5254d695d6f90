#!/usr/bin/env bash
# CTest's `vm` label: `addfdlab vm run` on the newest Debian 6.1 cloud kernel apt offers.
#   smoke.sh ADDFDLAB WORK contract  the contract suite in the guest: exit 0, its JSON names the kernel
#   smoke.sh ADDFDLAB WORK status    a usage error in the guest comes back as exit 2
#   smoke.sh ADDFDLAB WORK hang      a command past --timeout: the guest is stopped, exit 1, "hung"
#   smoke.sh ADDFDLAB WORK panic     a kernel that panics (no init): exit 1, the splat filed
#   smoke.sh ADDFDLAB WORK matrix    vm matrix: two reproducers in one boot, and the host
#   smoke.sh ADDFDLAB WORK c_repro   a C reproducer alone in a guest (vm run --c): its verdict is
#                                    the executor's in the same kernel
#   smoke.sh ADDFDLAB WORK fuzz      fuzz --vm: a short campaign in one boot, the work corpus in,
#                                    the guest's summary through, its corpus and findings back,
#                                    nothing overwritten (builds the fuzz-fast preset if missing)
# Exit 77 (skip) without QEMU or busybox-static (scripts/deps.sh vm installs them).
set -uo pipefail
addfdlab=$1 work=$2 mode=$3
if ! command -v qemu-system-x86_64 >/dev/null || [[ ! -x /bin/busybox ]]; then
  echo "no qemu-system-x86_64 or /bin/busybox: scripts/deps.sh vm" >&2
  exit 77
fi
# The newest ABI of bookworm's 6.1 cloud kernels: older ones leave the archive over time.
kernel=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' |
  cut -d' ' -f1 | sort -V | tail -n 1)
[[ -n $kernel ]] || { echo "apt offers no 6.1 cloud kernel (apt-get update?)" >&2; exit 1; }
mkdir -p "$work"
run=("$addfdlab" vm run --kernel "$kernel" --work "$work/runs" --findings "$work/findings")
case $mode in
  contract)
    "${run[@]}" -- contract --json >"$work/contract.json" || exit 1
    python3 - "$work/contract.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
assert report["kernel"].startswith("6.1.0-"), report["kernel"]
print(report["kernel"], "cells:", len(report["cells"]))
PY
    ;;
  status)
    "${run[@]}" -- contract --frobnicate >/dev/null
    status=$?
    [[ $status -eq 2 ]] || { echo "exit $status, expected 2" >&2; exit 1; }
    ;;
  hang)
    "${run[@]}" --timeout 1 -- rollback-matrix >/dev/null 2>"$work/hang.err"
    status=$?
    cat "$work/hang.err" >&2
    [[ $status -eq 1 ]] && grep -q ': hung: rollback-matrix did not finish within 1 s' "$work/hang.err"
    ;;
  panic)
    # rdinit names no file: the kernel finds no root and panics before any command runs.
    rm -rf "$work/findings"
    "${run[@]}" --kernel-args rdinit=/nonexistent -- contract >/dev/null 2>"$work/panic.err"
    status=$?
    cat "$work/panic.err" >&2
    [[ $status -eq 1 ]] && grep -q 'kernel trouble on the console' "$work/panic.err" &&
      grep -q 'Kernel panic' "$work"/findings/vm-panic-*/console.log
    ;;
  matrix)
    "$addfdlab" vm matrix --kernels "$kernel" --host --work "$work/runs" \
      --findings "$work/findings" --json --html "$work/matrix.html" -- repro \
      corpus/contract/addfd_intr_send.scn corpus/contract/addfd_id_unknown.scn \
      >"$work/matrix.json" || exit 1
    python3 - "$work/matrix.json" "$work/matrix.html" <<'PY'
import json, sys
matrix = json.load(open(sys.argv[1]))
assert [k["kernel"] for k in matrix["kernels"]][1:] == ["host"], matrix["kernels"]
assert all("problem" not in k for k in matrix["kernels"]), matrix["kernels"]
assert [len(r["statuses"]) for r in matrix["rows"]] == [2, 2], matrix["rows"]
for row in matrix["rows"]:
    assert all(s in ("PASS", "KNOWN") for s in row["statuses"].values()), row
    print(row["name"], row["statuses"])
assert "<table>" in open(sys.argv[2]).read()
PY
    ;;
  c_repro)
    # The known deviation ADDFD.INTR.SEND: its C program in a guest with nothing else, then
    # `repro --json` in the same kernel; both must see it (or both not).
    scn=corpus/contract/addfd_intr_send.scn
    "$addfdlab" repro --emit-c "$scn" -o "$work/repro.c" || exit 1
    "${run[@]}" --c "$work/repro.c" >"$work/c.tap" 2>"$work/c.err"
    c_status=$?
    cat "$work/c.err" >&2
    "${run[@]}" -- repro "$scn" --json >"$work/repro.json" || exit 1
    python3 - "$work/repro.json" "$work/c.tap" "$c_status" <<'PY'
import json, sys
repro = json.load(open(sys.argv[1]))
tap = open(sys.argv[2]).read()
status = int(sys.argv[3])
assert tap.startswith("TAP version 13"), tap[:500]
cells = {v["cell"] for v in repro["verdicts"]}
print("executor:", repro["kernel"], sorted(cells) or "clean", "| C program exit", status)
if "ADDFD.INTR.SEND" in cells:
    assert status == 1, tap
    assert any(line.startswith("# DEVIATION") and "cell ADDFD.INTR.SEND" in line
               for line in tap.splitlines()), tap
else:
    assert not cells and status == 0, (cells, tap)
PY
    ;;
  fuzz)
    target=addfd_sequence_fuzzer
    rm -rf "$work/fuzz" "$work/fuzz-findings"
    mkdir -p "$work/fuzz/$target/corpus" "$work/fuzz-findings/planted"
    printf 'keep' >"$work/fuzz/$target/corpus/planted"
    printf 'keep' >"$work/fuzz-findings/planted/note"
    "$addfdlab" fuzz --vm "$kernel" --target "$target" --time 15 --jobs 1 --work "$work/fuzz" \
      --findings "$work/fuzz-findings" >"$work/fuzz.out" 2>"$work/fuzz.err"
    status=$?
    cat "$work/fuzz.out"
    tail -n 5 "$work/fuzz.err" >&2
    inputs=$(find "$work/fuzz/$target/corpus" -type f | wc -l)
    echo "exit $status; corpus here: $inputs inputs"
    # 0, or 1 with what it found back here (on 6.1 a campaign may find a deviation).
    if [[ $status -eq 1 ]]; then
      grep -q '^vm .*: .* brought back: .* [1-9][0-9]* finding folders' "$work/fuzz.out" || exit 1
    elif [[ $status -ne 0 ]]; then
      exit 1
    fi
    grep -q "^$target: .* execs" "$work/fuzz.out" || exit 1
    # The guest's work folder came back (the planted input went in and out), and every input
    # of the guest's corpus is here now; the planted files are as they were.
    back=$(sed -n "s|^vm .*; guest's log \(.*\)/fuzz.log$|\1|p" "$work/fuzz.out")
    [[ -n $back && -f $back/corpus/planted ]] || exit 1
    for input in "$back"/corpus/*; do
      [[ -f $work/fuzz/$target/corpus/$(basename "$input") ]] || exit 1
    done
    [[ $(cat "$work/fuzz/$target/corpus/planted") == keep &&
      $(cat "$work/fuzz-findings/planted/note") == keep ]]
    ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
