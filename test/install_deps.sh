#!/usr/bin/env bash
# Installs the Debian packages that bring whatever pg_gdpr's build, tests and
# demo use and this machine lacks. The list is test/dependencies.txt: each
# entry names a file or command and the package that provides it, so a
# package counts as present only when the files we use are there.
#
#   test/install_deps.sh                  install what is missing (as root)
#   test/install_deps.sh --print-missing  only print the missing packages
#
# For tests of the decision itself: DEPS_ROOT prefixes every absolute path
# (a fake root), DEPS_PATH replaces PATH for command lookups, DEPS_ARCH
# replaces the dpkg architecture, DEPS_LIBDIR the linker's library directory,
# and PG_CONFIG names the pg_config to ask.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
list=${DEPS_LIST:-$here/dependencies.txt}
root=${DEPS_ROOT:-}
search_path=${DEPS_PATH:-$PATH}
arch=${DEPS_ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
pg_config_cmd=${PG_CONFIG:-pg_config}
mode=install
[ "${1:-}" = --print-missing ] && mode=print

have_command() { PATH=$search_path command -v "$1" >/dev/null 2>&1; }

# pg_config answers, or the Debian defaults for PostgreSQL 15 when it is
# missing (libpq-dev brings it; the entries it locates are checked again
# after the install, see below).
pg_value() {
  local v=
  if have_command "$pg_config_cmd"; then
    v=$(PATH=$search_path "$pg_config_cmd" "$1" 2>/dev/null || true)
  fi
  if [ -z "$v" ]; then
    case $1 in
      --bindir) v=/usr/lib/postgresql/15/bin ;;
      --includedir) v=/usr/include/postgresql ;;
      --includedir-server) v=/usr/include/postgresql/15/server ;;
      --pkglibdir) v=/usr/lib/postgresql/15/lib ;;
      --sharedir) v=/usr/share/postgresql/15 ;;
      --version) v="PostgreSQL 15" ;;
    esac
  fi
  printf '%s' "$v"
}

missing_packages() {
  local major bindir includedir includedir_server pkglibdir sharedir libdir
  major=$(pg_value --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
  bindir=$(pg_value --bindir)
  includedir=$(pg_value --includedir)
  includedir_server=$(pg_value --includedir-server)
  pkglibdir=$(pg_value --pkglibdir)
  sharedir=$(pg_value --sharedir)
  libdir=${DEPS_LIBDIR:-/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)}
  local kind what package rest only
  while read -r kind what package rest; do
    case $kind in ''|'#'*) continue ;; esac
    only=${kind#*@}
    if [ "$only" != "$kind" ]; then
      [ "$only" = "$arch" ] || continue
      kind=${kind%@*}
    fi
    what=${what//@BINDIR@/$bindir}
    what=${what//@INCLUDEDIR_SERVER@/$includedir_server}
    what=${what//@INCLUDEDIR@/$includedir}
    what=${what//@PKGLIBDIR@/$pkglibdir}
    what=${what//@SHAREDIR@/$sharedir}
    what=${what//@LIBDIR@/$libdir}
    package=${package//@MAJOR@/$major}
    case $kind in
      file) [ -e "$root$what" ] || echo "$package" ;;
      command) have_command "$what" || echo "$package" ;;
      *) echo "install_deps: bad entry kind '$kind' in $list" >&2; exit 2 ;;
    esac
  done <"$list" | sort -u
}

mapfile -t missing < <(missing_packages)
if [ "$mode" = print ]; then
  [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
  exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "pg_gdpr: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "pg_gdpr: run as root, or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# pg_config may only now exist, and the server package may have moved to a
# new minor version: look again with the real answers.
mapfile -t still < <(missing_packages)
if [ ${#still[@]} -gt 0 ]; then
  echo "pg_gdpr: installed, but still missing what these packages should bring: ${still[*]}" >&2
  exit 1
fi
