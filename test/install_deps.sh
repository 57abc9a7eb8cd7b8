#!/usr/bin/env bash
# Installs what pg_gdpr needs to build and test, if it is missing (Debian 12).
set -euo pipefail

missing=()
have_file() { [ -e "$1" ]; }

pgxs=$(pg_config --pgxs 2>/dev/null || true)
{ [ -n "$pgxs" ] && have_file "$pgxs"; } || missing+=(postgresql-server-dev-15)
command -v pg_config >/dev/null || missing+=(libpq-dev)
have_file /usr/include/postgresql/libpq-fe.h || missing+=(libpq-dev)
have_file /usr/include/openssl/evp.h || missing+=(libssl-dev)
have_file /usr/include/boost/program_options.hpp || missing+=(libboost-program-options-dev)
have_file /usr/include/gtest/gtest.h || missing+=(libgtest-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
command -v runuser >/dev/null || missing+=(util-linux)
if ! have_file "$(pg_config --sharedir 2>/dev/null)/extension/pgcrypto.control"; then
  missing+=(postgresql-contrib)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "pg_gdpr: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "pg_gdpr: run as root, or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
