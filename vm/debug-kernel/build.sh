#!/bin/sh
# The debug kernel of `addfdlab vm run --kernel debug` (docs/vm.md, "The debug kernel"):
# Debian's linux-source-6.12, patched with patches/*.patch (and a variant's
# variants/NAME/*.patch after them), `make tinyconfig` plus config.fragment, built under
# `nice -n 19` into the kernel cache, once per key.
#
#   build.sh [--cache DIR] [--variant NAME] [--jobs N]  build when needed; prints the entry folder
#   build.sh [--cache DIR] [--variant NAME] --cached    the entry folder if built, else exit 3
#   build.sh [--cache DIR] [--variant NAME] --key       the key (what the entry's name is made of)
#   build.sh --variants                                 the variants, one a line
#
# A variant is a folder variants/NAME/ of patches applied after patches/*.patch: `vm run
# --kernel debug-NAME` boots it (variants/unfixed: the WAIT_KILLABLE_RECV fast-reply fix
# reverted). The key is the SHA-256 of the source package's version, config.fragment, every
# patch (name and text), the variant's name and RECIPE below: change any of them and the next
# run builds a new entry, $CACHE/debug-kernel/<first 16 hex digits>/ with `bzImage`,
# `vmlinux`, `config`, `key.txt`, `build.log` and the built tree `linux/`. A new entry is
# seeded from the newest finished one of the same source, recipe and fragment: its tree is
# copied (`cp -a`, times kept), the patches it has and this key has not are reversed and
# those this key has and it has not applied, so make rebuilds only the objects they touch
# and relinks (minutes, not the hour from clean). A build that stopped half-way resumes
# (make is incremental); `done` is written last. Progress goes to stderr. Exit 0; 1 when the
# build or an option check failed (the log's end is printed); 2 for bad usage; 3 (--cached)
# not built.
set -eu

# Bump when the steps below change what gets built.
RECIPE=1
SOURCE_PACKAGE=linux-source-6.12

here=$(cd "$(dirname "$0")" && pwd)
cache="${XDG_CACHE_HOME:-$HOME/.cache}/addfdlab/vm"
jobs=2
mode=build
variant=""

usage() {
  echo "usage: $0 [--cache DIR] [--variant NAME] [--jobs N] [--cached | --key] | --variants" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
    --jobs)
      [ $# -ge 2 ] || usage
      case "$2" in '' | *[!0-9]* | 0) echo "$0: --jobs wants a positive number, not '$2'" >&2; exit 2 ;; esac
      jobs=$2; shift 2 ;;
    --variant) [ $# -ge 2 ] || usage; variant=$2; shift 2 ;;
    --variants) mode=variants; shift ;;
    --cached) mode=cached; shift ;;
    --key) mode=key; shift ;;
    *) echo "$0: unknown argument '$1'" >&2; usage ;;
  esac
done

say() { echo "debug kernel${variant:+ ($variant)}: $*" >&2; }

if [ "$mode" = variants ]; then
  for dir in "$here"/variants/*/; do
    [ -d "$dir" ] && basename "$dir"
  done
  exit 0
fi
if [ -n "$variant" ]; then
  case "$variant" in
    *[!A-Za-z0-9_-]* | -*) echo "$0: --variant wants a name of letters, digits, - and _, not '$variant'" >&2; exit 2 ;;
  esac
  if [ ! -d "$here/variants/$variant" ]; then
    echo "$0: no variant '$variant' (variants/ has: $(ls "$here/variants" 2>/dev/null | tr '\n' ' '))" >&2
    exit 2
  fi
fi

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

# The patches of this key in the order they apply: "NAME PATH" lines, NAME as key.txt names it.
patch_list() {
  for patch in "$here"/patches/*.patch; do
    [ -e "$patch" ] && echo "$(basename "$patch") $patch"
  done
  if [ -n "$variant" ]; then
    for patch in "$here/variants/$variant"/*.patch; do
      [ -e "$patch" ] && echo "variants/$variant/$(basename "$patch") $patch"
    done
  fi
  return 0
}

key_text() {
  echo "recipe $RECIPE"
  echo "source $SOURCE_PACKAGE $version"
  [ -z "$variant" ] || echo "variant $variant"
  echo "fragment"
  cat "$here/config.fragment"
  patch_list | while read -r name patch; do
    echo "patch $name"
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

# Splits a finished entry's key.txt into DIR/fragment and DIR/NNN.name, DIR/NNN.patch.
split_key() {
  awk -v dir="$2" '
    /^fragment$/ && !fragment_seen { section = "fragment"; fragment_seen = 1; printf "" >(dir "/fragment"); next }
    /^patch [A-Za-z0-9._\/-]+\.patch$/ {
      n++; file = sprintf("%s/%03d", dir, n)
      print substr($0, 7) >(file ".name"); close(file ".name")
      printf "" >(file ".patch"); section = "patch"; next
    }
    section == "fragment" { print >(dir "/fragment") }
    section == "patch" { print >(file ".patch") }
  ' "$1/key.txt"
}

# Seeds $tree from the newest finished entry of the same recipe, source and fragment; returns
# 1 (nothing changed) when there is none or its patches do not reverse and apply cleanly.
seed_tree() {
  work="$entry/seeding"
  for done_file in $(ls -t "$top"/*/done 2>/dev/null); do
    seed=$(dirname "$done_file")
    [ "$seed" != "$entry" ] && [ -d "$seed/linux" ] && [ -e "$seed/key.txt" ] || continue
    [ "$(sed -n 1p "$seed/key.txt")" = "recipe $RECIPE" ] || continue
    [ "$(sed -n 2p "$seed/key.txt")" = "source $SOURCE_PACKAGE $version" ] || continue
    rm -rf "$work" && mkdir -p "$work/old"
    split_key "$seed" "$work/old"
    cmp -s "$work/old/fragment" "$here/config.fragment" || continue
    # Which of the seed's patches this key has too (same name, same text), which not.
    patch_list >"$work/new.list"
    : >"$work/common"
    reverse=""
    for name_file in $(ls "$work/old"/*.name 2>/dev/null | sort -r); do
      old_patch=${name_file%.name}.patch
      name=$(cat "$name_file")
      path=$(awk -v n="$name" '$1 == n { print $2 }' "$work/new.list")
      if [ -n "$path" ] && cmp -s "$old_patch" "$path"; then
        echo "$name" >>"$work/common"
      else
        reverse="$reverse $old_patch"
      fi
    done
    say "seeding from $(basename "$seed") (copying its built tree)"
    cp -a "$seed/linux" "$work/linux" || { rm -rf "$work"; return 1; }
    ok=1
    for old_patch in $reverse; do
      say "reversing $(cat "${old_patch%.patch}.name")"
      patch -R -p1 -d "$work/linux" --no-backup-if-mismatch -s <"$old_patch" || { ok=0; break; }
    done
    if [ $ok = 1 ]; then
      while read -r name patch; do
        grep -qxF "$name" "$work/common" && continue
        say "applying $name"
        patch -p1 -d "$work/linux" --no-backup-if-mismatch -s <"$patch" || { ok=0; break; }
      done <"$work/new.list"
    fi
    if [ $ok = 0 ]; then
      say "the patches did not reverse or apply on $(basename "$seed")'s tree; building from clean"
      rm -rf "$work"
      return 1
    fi
    mv "$work/linux" "$tree"
    rm -rf "$work"
    return 0
  done
  rm -rf "$work"
  return 1
}

tree="$entry/linux"
if [ ! -e "$tree" ]; then
  seed_tree || true
fi
if [ ! -e "$tree/.addfdlab-unpacked" ]; then
  say "unpacking $SOURCE_PACKAGE $version into $tree"
  rm -rf "$tree" "$entry/unpack"
  mkdir -p "$entry/unpack"
  # The .deb holds usr/src/linux-source-6.12.tar.xz; only the tarball is unpacked.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$entry/unpack" --wildcards './usr/src/*.tar.xz'
  tar -xJf "$entry/unpack"/usr/src/*.tar.xz -C "$entry/unpack"
  mv "$entry/unpack"/linux-source-* "$tree"
  rm -rf "$entry/unpack"
  patch_list >"$entry/patches.list"
  while read -r name patch; do
    say "applying $name"
    patch -p1 -d "$tree" --no-backup-if-mismatch -s <"$patch" ||
      { echo "$0: $name does not apply to $SOURCE_PACKAGE $version" >&2; exit 1; }
  done <"$entry/patches.list"
  rm -f "$entry/patches.list"
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
