#!/bin/busybox sh
# shellcheck shell=dash
# PID 1 of an addfdlab guest (`addfdlab vm run`): runs /vm/run.sh once, its stdout on the
# second serial port and its stderr on the third, then hands its exit status to QEMU's
# isa-debug-exit device. The console (first port) gets the markers the host waits for.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# No tmpfs over /tmp: the initramfs is writable memory already, and a mount there would hide
# the files a command names under /tmp (vm run copies them in at their own paths).
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
# The debug kernel's fault injection (failslab, fail_function) and KCOV live in debugfs.
if [ -d /sys/kernel/debug ]; then mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null; fi
# The explicit flag that this is an addfdlab guest: its sysctls (fs.nr_open) are its own to
# change. Only this file sets it; nothing on the host does.
export ADDFDLAB_VM_GUEST=1
# Raw: no \n -> \r\n on the way out, no echo. The fourth port carries a tar of the files
# that come back to the host (vm/run.sh writes it when asked to).
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
stty -F /dev/ttyS3 raw -echo 2>/dev/null
echo "addfdlab-vm: running"
sh /vm/run.sh </dev/null >/dev/ttyS1 2>/dev/ttyS2
status=$?
echo "addfdlab-vm: exit $status"
/vm/guest-exit "$status" /dev/ttyS1 /dev/ttyS2 /dev/ttyS3
echo "addfdlab-vm: no isa-debug-exit device"
poweroff -f
