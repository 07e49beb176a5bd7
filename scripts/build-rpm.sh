#!/bin/sh
# Builds the RPM (for Fedora and Qubes' Fedora templates) from the committed source:
# git archive of HEAD as the source tarball, packaging/rpm/egressd.spec with the
# version filled in, rpmbuild -ba in OUT_DIR (its _topdir). Prints the packages made.
#
#   scripts/build-rpm.sh OUT_DIR [RPMBUILD_OPTIONS...]
# e.g. --nodeps to build where the BuildRequires are not rpm packages (on Debian).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [RPMBUILD_OPTIONS...]" >&2
  exit 2
fi
if ! command -v rpmbuild >/dev/null 2>&1; then
  echo "build-rpm: needs rpmbuild (Fedora: dnf install rpm-build; Debian: apt-get install rpm)" >&2
  exit 1
fi
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
top=$(cd "$1" && pwd)
shift
version=$(sed -n 's/^project(egressd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
mkdir -p "$top/SOURCES" "$top/SPECS"
if [ -n "$(git -C "$src" status --porcelain)" ]; then
  echo "build-rpm: note: uncommitted changes are not in the package (it is built from HEAD)" >&2
fi
git -C "$src" archive --format=tar.gz --prefix="egressd-$version/" \
  -o "$top/SOURCES/egressd-$version.tar.gz" HEAD
sed "s/@VERSION@/$version/" "$src/packaging/rpm/egressd.spec" > "$top/SPECS/egressd.spec"
rpmbuild --define "_topdir $top" "$@" -ba "$top/SPECS/egressd.spec"
find "$top/RPMS" "$top/SRPMS" -name '*.rpm' -print
