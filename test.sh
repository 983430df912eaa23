#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs exactly
# `cargo test` (arguments are passed on: `./test.sh durability`).
#
# What it installs when missing (apt, with sudo unless root): what the build needs
# (deploy/build-deps.sh: gcc, make, perl), Java 17 and Maven for the Kafka brokers the suite
# starts (deploy/kafka/kafka.sh fetches Kafka's jars from Maven Central), openssl for the
# secured broker's CA and certificates, Chromium, a CJK font, Node and npm for the console's
# browser test, the browser test's npm packages (playwright-core), and a Python virtual
# environment with the Python client example's packages (target/pyenv), and buf (npm) for the
# proto contract checks.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# prlimit lowers a broker's descriptor limit in the connection-hygiene test.
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi 'wqy\|noto sans cjk' || missing+=(fonts-wqy-zenhei)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# A virtual environment for the Python client example (Debian's Python is externally managed).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
deploy/build-deps.sh "${missing[@]}"
# The Python example's packages, in target/pyenv (reinstalled when requirements.txt changes).
if ! cmp -s examples/python/requirements.txt target/pyenv/requirements.txt; then
  rm -rf target/pyenv
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install --quiet --disable-pip-version-check -r examples/python/requirements.txt
  cp examples/python/requirements.txt target/pyenv/requirements.txt
fi
# Kafka's jars, cached under target/kafka (the tests would fetch them too; fetching first keeps
# a download problem apart from test failures).
deploy/kafka/kafka.sh fetch
# playwright-core and axe-core for the browser test, at the versions package-lock.json pins.
[ -d tests/browser/node_modules/playwright-core ] && [ -d tests/browser/node_modules/axe-core ] ||
  (cd tests/browser && npm ci --no-audit --no-fund)
# buf for the proto contract checks (tests/it/contract.rs), at the version package-lock.json pins.
[ -x tests/contract/node_modules/.bin/buf ] ||
  (cd tests/contract && npm ci --no-audit --no-fund)

exec cargo test "$@"
