#!/bin/sh
# The debug kernel of `addfdlab vm run --kernel debug` (docs/vm.md, "The debug kernel"):
# Debian's linux-source-6.12, patched with patches/*.patch, `make tinyconfig` plus
# config.fragment, built under `nice -n 19` into the kernel cache, once per key.
#
#   build.sh [--cache DIR] [--jobs N]   build when needed; prints the entry folder on stdout
#   build.sh [--cache DIR] --cached     prints the entry folder if it is built, else exit 3
#   build.sh [--cache DIR] --key        prints the key (what the entry's name is made of)
#
# The key is the SHA-256 of the source package's version, config.fragment, every patch
# (name and text) and RECIPE below: change any of them and the next run builds a new entry,
# $CACHE/debug-kernel/<first 16 hex digits>/ with `bzImage`, `vmlinux`, `config`, `key.txt`,
# `build.log` and the built tree `linux/`. A build that stopped half-way resumes (make is
# incremental); `done` is written last. Progress goes to stderr. Exit 0; 1 when the build or
# an option check failed (the log's end is printed); 2 for bad usage; 3 (--cached) not built.
set -eu

# Bump when the steps below change what gets built.
RECIPE=1
SOURCE_PACKAGE=linux-source-6.12

here=$(cd "$(dirname "$0")" && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/addfdlab/vm"
jobs=2
mode=build

usage() {
  echo "usage: $0 [--cache DIR] [--jobs N] [--cached | --key]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
    --jobs)
      [ $# -ge 2 ] || usage
      case "$2" in '' | *[!0-9]* | 0) echo "$0: --jobs wants a positive number, not '$2'" >&2; exit 2 ;; esac
      jobs=$2; shift 2 ;;
    --cached) mode=cached; shift ;;
    --key) mode=key; shift ;;
    *) echo "$0: unknown argument '$1'" >&2; usage ;;
  esac
done

say() { echo "debug kernel: $*" >&2; }

top="$cache/debug-kernel"
src_dir="$top/src"

# The source version: apt's candidate, else (offline) the newest .deb already fetched.
version=$(apt-cache show --no-all-versions "$SOURCE_PACKAGE" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
if [ -z "$version" ]; then
  newest=$(ls "$src_dir"/"${SOURCE_PACKAGE}"_*_all.deb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$newest" ]; then
    echo "$0: apt knows no $SOURCE_PACKAGE and none was fetched into $src_dir" >&2
    exit 1
  fi
  version=$(dpkg-deb -f "$newest" Version)
fi

key_text() {
  echo "recipe $RECIPE"
  echo "source $SOURCE_PACKAGE $version"
  echo "fragment"
  cat "$here/config.fragment"
  for patch in "$here"/patches/*.patch; do
    [ -e "$patch" ] || continue
    echo "patch $(basename "$patch")"
    cat "$patch"
  done
}
key=$(key_text | sha256sum | cut -c1-16)
entry="$top/$key"

case $mode in
  key) echo "$key"; exit 0 ;;
  cached)
    if [ -e "$entry/done" ]; then echo "$entry"; exit 0; fi
    exit 3 ;;
esac
if [ -e "$entry/done" ]; then
  echo "$entry"
  exit 0
fi

for tool in dpkg-deb apt-get make gcc flex bison bc xz patch; do
  command -v "$tool" >/dev/null || { echo "$0: $tool is missing (scripts/deps.sh debug-kernel)" >&2; exit 1; }
done
[ -e /usr/include/libelf.h ] || { echo "$0: libelf-dev is missing (scripts/deps.sh debug-kernel)" >&2; exit 1; }

mkdir -p "$entry" "$src_dir"
# One build of a key at a time; another one waits here, then finds it done.
exec 9>"$entry.lock"
flock 9
if [ -e "$entry/done" ]; then
  echo "$entry"
  exit 0
fi
start=$(date +%s)
log="$entry/build.log"

deb="$src_dir/${SOURCE_PACKAGE}_${version}_all.deb"
if [ ! -e "$deb" ]; then
  say "downloading $SOURCE_PACKAGE $version"
  scratch="$src_dir/tmp-$$"
  rm -rf "$scratch" && mkdir -p "$scratch"
  (cd "$scratch" && apt-get download -q "$SOURCE_PACKAGE=$version" >apt.log 2>&1) ||
    { cat "$scratch/apt.log" >&2; rm -rf "$scratch"; exit 1; }
  mv "$scratch"/*.deb "$deb"
  rm -rf "$scratch"
fi

tree="$entry/linux"
if [ ! -e "$tree/.addfdlab-unpacked" ]; then
  say "unpacking $SOURCE_PACKAGE $version into $tree"
  rm -rf "$tree" "$entry/unpack"
  mkdir -p "$entry/unpack"
  # The .deb holds usr/src/linux-source-6.12.tar.xz; only the tarball is unpacked.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$entry/unpack" --wildcards './usr/src/*.tar.xz'
  tar -xJf "$entry/unpack"/usr/src/*.tar.xz -C "$entry/unpack"
  mv "$entry/unpack"/linux-source-* "$tree"
  rm -rf "$entry/unpack"
  for patch in "$here"/patches/*.patch; do
    [ -e "$patch" ] || continue
    say "applying $(basename "$patch")"
    patch -p1 -d "$tree" --no-backup-if-mismatch -s <"$patch" ||
      { echo "$0: $(basename "$patch") does not apply to $SOURCE_PACKAGE $version" >&2; exit 1; }
  done
  touch "$tree/.addfdlab-unpacked"
fi

if [ ! -e "$tree/.addfdlab-configured" ]; then
  say "configuring: tinyconfig, config.fragment, olddefconfig"
  {
    make -C "$tree" tinyconfig
    "$tree/scripts/kconfig/merge_config.sh" -m -O "$tree" "$tree/.config" "$here/config.fragment"
    make -C "$tree" olddefconfig
  } >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }
  # Every line of the fragment must have held: Kconfig drops what a dependency refuses.
  missing=""
  while IFS= read -r line; do
    case "$line" in
      CONFIG_*=*) grep -qxF "$line" "$tree/.config" || missing="$missing $line" ;;
      "# CONFIG_"*" is not set")
        name=${line#\# }
        name=${name%% *}
        ! grep -q "^$name=" "$tree/.config" || missing="$missing $name=n" ;;
    esac
  done <"$here/config.fragment"
  if [ -n "$missing" ]; then
    echo "$0: these options did not hold after olddefconfig (a dependency is missing):" >&2
    for option in $missing; do echo "  $option: .config has $(grep -E "^(# )?${option%%=*}[= ]" "$tree/.config" || echo nothing)" >&2; done
    exit 1
  fi
  touch "$tree/.addfdlab-configured"
fi

say "building (make -j$jobs bzImage under nice -n 19; about 10 minutes on 2 cores; log $log)"
# KBUILD_BUILD_TIMESTAMP/USER/HOST: the same tree builds the same banner.
if ! nice -n 19 make -C "$tree" -j"$jobs" bzImage KBUILD_BUILD_TIMESTAMP=addfdlab \
  KBUILD_BUILD_USER=addfdlab KBUILD_BUILD_HOST=addfdlab >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "$0: the build failed (log $log)" >&2
  exit 1
fi
cp "$tree/arch/x86/boot/bzImage" "$entry/bzImage"
cp "$tree/.config" "$entry/config"
ln -sf linux/vmlinux "$entry/vmlinux"
key_text >"$entry/key.txt"
end=$(date +%s)
echo "$((end - start))" >"$entry/build-seconds"
touch "$entry/done"
say "built in $((end - start)) s: $entry/bzImage"
echo "$entry"
