#!/usr/bin/env bash
# The install step's decision: on a fake machine that lacks one file or
# command the build or the tests use, test/install_deps.sh must name the
# package that brings it back, and nothing else. Also: the README lists the
# same packages as test/dependencies.txt. Needs no server and no root.
set -uo pipefail
cd "$(dirname "$0")/../.."

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

work=$(mktemp -d /tmp/pg_gdpr_deps.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A pg_config stand-in for a PostgreSQL 16 in unusual places, so that the
# test also shows that paths and package names come from pg_config.
mkdir -p "$work/bin"
cat >"$work/bin/pg_config" <<'SH'
#!/bin/sh
case $1 in
  --version) echo "PostgreSQL 16.4 (Debian 16.4-1)" ;;
  --bindir) echo /opt/pg16/bin ;;
  --includedir) echo /opt/pg16/include ;;
  --includedir-server) echo /opt/pg16/include/server ;;
  --pkglibdir) echo /opt/pg16/lib ;;
  --sharedir) echo /opt/pg16/share ;;
  *) exit 1 ;;
esac
SH
chmod +x "$work/bin/pg_config"
for c in g++ make runuser python3; do printf '#!/bin/sh\n' >"$work/bin/$c"; chmod +x "$work/bin/$c"; done

# Every file entry of the list, resolved as the script must resolve it.
resolve() {
  sed -e 's|@BINDIR@|/opt/pg16/bin|g' -e 's|@INCLUDEDIR_SERVER@|/opt/pg16/include/server|g' \
      -e 's|@INCLUDEDIR@|/opt/pg16/include|g' -e 's|@PKGLIBDIR@|/opt/pg16/lib|g' \
      -e 's|@SHAREDIR@|/opt/pg16/share|g' -e 's|@LIBDIR@|/usr/lib/fake-multiarch|g' -e 's|@MAJOR@|16|g'
}
entries() { grep -vE '^\s*(#|$)' test/dependencies.txt | awk '{print $1, $2, $3}' | resolve; }

make_root() {
  rm -rf "$work/root"
  local kind what package
  while read -r kind what package; do
    case $kind in file*) mkdir -p "$work/root$(dirname "$what")"; : >"$work/root$what" ;; esac
  done < <(entries)
}

decide() {
  DEPS_ROOT=$work/root DEPS_PATH=$work/bin DEPS_ARCH=${1:-amd64} DEPS_LIBDIR=/usr/lib/fake-multiarch PG_CONFIG=pg_config \
    test/install_deps.sh --print-missing | tr '\n' ' ' | sed 's/ $//'
}

make_root
got=$(decide)
[ -z "$got" ] || fail "nothing missing, but the script names: $got"

# Each file and command in turn: exactly its own package.
n=0
while read -r kind what package; do
  case $kind in
    file*)
      rm -f "$work/root$what"
      got=$(decide)
      : >"$work/root$what" ;;
    command)
      [ "$what" = pg_config ] && continue
      mv "$work/bin/$what" "$work/hidden"
      got=$(decide)
      mv "$work/hidden" "$work/bin/$what" ;;
  esac
  n=$((n + 1))
  [ "$got" = "$package" ] || fail "without $what: expected '$package', got '$got'"
done < <(entries)

# The cases that once went wrong or matter most, stated independently of the list.
expect_without() {
  local path=$1 want=$2
  rm -f "$work/root$path"
  got=$(decide)
  : >"$work/root$path"
  [ "$got" = "$want" ] || fail "without $path: expected '$want', got '$got'"
}
# pgxs.mk present (it ships with the client package) but no server headers.
expect_without /opt/pg16/include/server/postgres.h postgresql-server-dev-16
expect_without /opt/pg16/lib/pgxs/src/test/regress/pg_regress postgresql-server-dev-16
expect_without /opt/pg16/lib/pgxs/src/test/isolation/pg_isolation_regress postgresql-server-dev-16
expect_without /usr/include/boost/program_options.hpp libboost-program-options-dev
# boost's headers can stay behind (libboost1.74-dev) when the library's -dev
# package is gone: the linker still needs the .so link.
expect_without /usr/lib/fake-multiarch/libboost_program_options.so libboost-program-options-dev
expect_without /usr/include/intel-ipsec-mb.h libipsec-mb-dev
expect_without /opt/pg16/bin/pg_basebackup postgresql-client-16
expect_without /opt/pg16/bin/pg_dump postgresql-client-16

# ipsec-mb exists for amd64 only: elsewhere it is not asked for.
rm -f "$work/root/usr/include/intel-ipsec-mb.h" "$work/root/usr/lib/fake-multiarch/libIPSec_MB.so"
got=$(decide arm64)
[ -z "$got" ] || fail "on arm64 without ipsec-mb: expected nothing, got '$got'"
: >"$work/root/usr/include/intel-ipsec-mb.h"; : >"$work/root/usr/lib/fake-multiarch/libIPSec_MB.so"

# No pg_config at all: libpq-dev brings it (the rest is checked again after).
mv "$work/bin/pg_config" "$work/hidden"
got=$(decide)
case " $got " in *" libpq-dev "*) ;; *) fail "without pg_config: expected libpq-dev among '$got'" ;; esac
mv "$work/hidden" "$work/bin/pg_config"

# The README's "Installing" section names the same packages as the list.
listed=$(grep -vE '^\s*(#|$)' test/dependencies.txt | awk '{print $3}' | sed 's/@MAJOR@/15/' | sort -u)
readme=$(sed -n '/^## Installing/,/^## /p' README.md | sed -n '/^Packages:/,/^$/p' \
  | grep -oE '`[a-z0-9.+-]+`' | tr -d '`' | sort -u)
[ -n "$readme" ] || fail "README's Installing section has no 'Packages:' paragraph"
[ "$listed" = "$readme" ] || fail "README packages differ from test/dependencies.txt:
$(diff <(echo "$readme") <(echo "$listed"))"

echo "checked $n entries of test/dependencies.txt one by one"
[ $fails -eq 0 ] && echo "dependencies: ok" || { echo "dependencies: $fails failure(s)"; exit 1; }
