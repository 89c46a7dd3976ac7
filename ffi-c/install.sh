#!/bin/sh
# Install libtollgate: the shared and static libraries, tollgate.h and tollgate.pc.
# Usage: ffi-c/install.sh PREFIX [BUILD_DIR]
#   BUILD_DIR holds libtollgate.so and libtollgate.a (default: target/release, after
#   `cargo build --release -p tollgate-ffi`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:?usage: install.sh PREFIX [BUILD_DIR]}
build=${2:-"$here/../target/release"}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../Cargo.toml" | head -n 1)
for f in libtollgate.so libtollgate.a; do
  [ -f "$build/$f" ] || { echo "install.sh: $build/$f not found; build it first" >&2; exit 1; }
done
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
cp "$build/libtollgate.so" "$build/libtollgate.a" "$prefix/lib/"
cp "$here/include/tollgate.h" "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/tollgate.pc.in" \
  > "$prefix/lib/pkgconfig/tollgate.pc"
echo "installed libtollgate $version under $prefix"
