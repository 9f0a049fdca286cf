#!/usr/bin/env bash
# The project's test command (README "Run the tests"; CI runs exactly this).
# It installs and starts whatever the tests need, runs every test, and stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --locked --all-targets "$@"
