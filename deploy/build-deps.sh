#!/usr/bin/env bash
# Installs what building Xiezhi needs beyond Rust, when it is missing (apt, with sudo unless
# root): a C compiler and make for librdkafka (built by the rdkafka crate), and perl for the
# OpenSSL it builds with (rdkafka's `ssl-vendored`: Kafka over TLS and SCRAM without the
# system's OpenSSL headers). protoc is not needed: build.rs compiles the .proto files with
# protox. Called by ./test.sh (which passes the test-only packages it found missing, so that
# one apt run installs both) and .ci/run; harmless to run again.
#
#   deploy/build-deps.sh [PACKAGE...]   also install these Debian packages
set -euo pipefail

missing=("$@")
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
# OpenSSL 3's Configure needs perl with its core modules (IPC::Cmd), which perl-base lacks.
perl -MIPC::Cmd -e1 >/dev/null 2>&1 || missing+=(perl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-deps.sh: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
