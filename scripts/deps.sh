#!/usr/bin/env bash
# Installs the Debian packages addfdlab needs that are missing: `apt-get update` once,
# then a non-interactive install of only what is missing. Groups: build (default), fuzz,
# bench, lint (Node.js and npm, for scripts/lint_workflows.sh), vm (QEMU and busybox-static
# for `addfdlab vm`; kernels are fetched with apt-get download, never installed), debug-kernel
# (what vm/debug-kernel/build.sh needs to build a kernel).
set -euo pipefail

declare -A groups=(
  [build]="cmake ninja-build g++ pkg-config libseccomp-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev nlohmann-json3-dev python3"
  [fuzz]="clang-19 libclang-rt-19-dev libc++-19-dev libc++abi-19-dev zip"
  [bench]="python3-matplotlib python3-pil chromium"
  [lint]="nodejs npm"
  [vm]="qemu-system-x86 busybox-static"
  [debug-kernel]="gcc make flex bison bc xz-utils patch libelf-dev libssl-dev"
)

wanted=()
for group in "${@:-build}"; do
  if [[ -z "${groups[$group]+x}" ]]; then
    echo "deps.sh: unknown group '$group' (build, fuzz, bench, lint, vm, debug-kernel)" >&2
    exit 2
  fi
  read -r -a pkgs <<<"${groups[$group]}"
  wanted+=("${pkgs[@]}")
done

missing=()
for pkg in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
