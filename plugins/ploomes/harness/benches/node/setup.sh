#!/usr/bin/env sh
# Installs the Node baseline's modules. better-sqlite3 is built from source against the system's
# Node headers (its install script would download a prebuilt binary from GitHub, which these
# machines cannot reach). Run by the ploomes bench when the modules are missing.
set -eu
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund
cd node_modules/better-sqlite3
npm_config_nodedir="${npm_config_nodedir:-/usr}" npx --yes node-gyp rebuild --release
