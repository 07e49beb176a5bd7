#!/bin/sh
# Builds the Debian package from a build folder: installs it into a staging folder with
# cmake --install (prefix /usr), strips the binaries, compresses the man pages, computes
# Depends from the shared libraries they use (dpkg-shlibdeps), marks every file under
# /etc as a conffile, and packs it with dpkg-deb. Prints the path of the package.
#
#   scripts/build-deb.sh BUILD_DIR OUT_DIR
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)

version=$(sed -n 's/^project(egressd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage="$work/stage"

DESTDIR="$stage" cmake --install "$build" --prefix /usr >/dev/null
for binary in "$stage/usr/sbin/egressd" "$stage/usr/sbin/egressctl"; do
  strip --strip-unneeded --remove-section=.comment --remove-section=.note "$binary"
done

# Debian's man pages are compressed (and reproducibly: no name, no time stamp).
find "$stage/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +

# dpkg-shlibdeps reads debian/control of the folder it runs in.
mkdir -p "$work/debian"
printf 'Source: egressd\n\nPackage: egressd\nArchitecture: any\n' > "$work/debian/control"
depends=$(cd "$work" && dpkg-shlibdeps -O -e"$stage/usr/sbin/egressd" -e"$stage/usr/sbin/egressctl" \
  2>/dev/null | sed -n 's/^shlibs:Depends=//p')
if [ -z "$depends" ]; then
  echo "build-deb: dpkg-shlibdeps found no dependencies" >&2
  exit 1
fi

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" "$src/packaging/deb/control.in" > "$stage/DEBIAN/control"
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$src/packaging/deb/$script" "$stage/DEBIAN/$script"
done

package="$out/egressd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$package" >/dev/null
echo "$package"
