#!/usr/bin/env bash
# The project's check command (README "Run the tests"; .ci/run runs exactly this):
# formatting, lints, then every test. Installs Debian's chromium (once, for the HTML report
# screenshot) and moto server in a virtualenv (once), starts
# it on a free 127.0.0.1 port, runs the tests with WPBACKUP_TEST_MOTO pointing at it, and
# stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

VENV="${WPBACKUP_VENV:-.venv}"
MOTO_VERSION="5.2.5"
if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    echo "installing moto[server]==$MOTO_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi

# Headless Chromium renders the HTML audit report to a screenshot (Debian's package).
CHROMIUM="${WPBACKUP_TEST_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
    echo "installing Debian's chromium (for the HTML report test)" >&2
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2 \
        || { $SUDO apt-get update -q >&2 && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2; }
fi
export WPBACKUP_TEST_CHROMIUM="$CHROMIUM"

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p target
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > target/moto.log 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/reset', data=b'')" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "moto server did not start:" >&2
        cat target/moto.log >&2
        exit 1
    fi
    sleep 0.2
done
echo "moto server on 127.0.0.1:$PORT" >&2

export WPBACKUP_TEST_MOTO="http://127.0.0.1:$PORT"
cargo test --locked --all-targets "$@"
