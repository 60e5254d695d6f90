#!/bin/bash
# Counts the syscalls a command makes (every process and thread it starts: supervisor,
# spawner, targets) per notifier ioctl (SECCOMP_IOCTL_NOTIF_*), with strace -f, and the top
# ten by name. Usage: scripts/syscalls_per_ioctl.sh COMMAND [ARGS...]
set -euo pipefail
trace=$(mktemp /tmp/addfdlab-strace-XXXXXX)
trap 'rm -f "$trace"' EXIT
strace -f -qq -o "$trace" "$@" >/dev/null 2>&1 || true
# One line per call: an interrupted call's "<... resumed>" half is not counted again.
awk '
  / resumed>/ || /^[0-9]+ +(\+\+\+|---)/ { next }
  {
    call = $2; sub(/\(.*/, "", call)
    total++; by[call]++
    if ($0 ~ /^[0-9]+ +ioctl\(/ && $0 ~ /SECCOMP_IOCTL_NOTIF|_IOC\([^,]*, 0x21,/) notif++
  }
  END {
    printf "syscalls %d, notifier ioctls %d, per notifier ioctl %.1f\n", total, notif,
           notif ? total / notif : 0
    for (c in by) printf "%8d %s\n", by[c], c | "sort -rn | head -10"
  }' "$trace"
