#!/usr/bin/env bash
# The project's check command (README "Run the tests"; .ci/run runs exactly this):
# formatting, lints (in the test build), then every test. Installs Debian's chromium (once,
# for the HTML report screenshot) and moto server in a virtualenv (once), starts
# it on a free 127.0.0.1 port, runs the tests with WPBACKUP_TEST_MOTO pointing at it, and
# stops it again.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check

# The tools the tests need beside the build: moto server in a virtualenv and Debian's
# headless Chromium (renders the HTML audit report to a screenshot). Each is installed once;
# on a fresh machine they download and unpack while cargo compiles (about 1.5 min saved).
VENV="${WPBACKUP_VENV:-.venv}"
MOTO_VERSION="5.2.5"
CHROMIUM="${WPBACKUP_TEST_CHROMIUM:-/usr/bin/chromium}"
install_moto() {
    if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
        echo "installing moto[server]==$MOTO_VERSION into $VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    fi
}
install_chromium() {
    if [ ! -x "$CHROMIUM" ]; then
        echo "installing Debian's chromium (for the HTML report test)"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
            || { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
    fi
}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
TOOLS_PID=""
mkdir -p target
if [ -z "${WPBACKUP_BUILD_ONLY:-}" ] && { [ -z "$SUDO" ] || [ -x "$CHROMIUM" ] || sudo -n true 2>/dev/null; }; then
    # Nothing will ask for a password: install in the background, checked after the build,
    # at the lowest CPU priority so that the compiler keeps both cores (measured: at normal
    # priority the installation slowed the build by more than it saved).
    (
        set -e
        renice -n 19 -p "$BASHPID" > /dev/null 2>&1 || true
        install_moto
        install_chromium
    ) > target/tools.log 2>&1 &
    TOOLS_PID=$!
    # If the build fails, let the installation finish rather than leave apt half-way.
    trap 'wait "$TOOLS_PID" 2>/dev/null || true' EXIT
fi

# Lints and the test build in one compilation. `cargo clippy` would type-check every
# dependency a second time, in check mode (5 min cold on 2 cores, mostly the AWS SDK);
# instead clippy-driver compiles the project's own targets — lib, bin, unit and integration
# tests, benches: what `cargo clippy --all-targets` checks — as RUSTC_WORKSPACE_WRAPPER,
# reporting the same lints with warnings as errors, and the dependencies are compiled once,
# by rustc, for the tests. CLIPPY_ARGS is how `cargo clippy -- -D warnings` hands its
# arguments to clippy-driver; the first check proves this toolchain honours it.
CLIPPY_DRIVER="$(command -v clippy-driver)" || {
    echo "clippy-driver not found: install the toolchain's clippy (rustup component add clippy)" >&2
    exit 1
}
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
LINT_PROBE="$(mktemp -d)"
printf 'fn main() {\n    let v = vec![1];\n    if v.len() == 0 {\n        println!();\n    }\n}\n' > "$LINT_PROBE/probe.rs"
if CLIPPY_ARGS="$CLIPPY_ARGS" "$CLIPPY_DRIVER" --edition 2021 --emit=metadata \
    --out-dir "$LINT_PROBE" "$LINT_PROBE/probe.rs" 2>/dev/null; then
    echo "clippy-driver did not reject a known lint (clippy::len_zero): lints would not be checked" >&2
    rm -rf "$LINT_PROBE"
    exit 1
fi
rm -rf "$LINT_PROBE"
export RUSTC_WORKSPACE_WRAPPER="$CLIPPY_DRIVER" CLIPPY_ARGS
cargo test --locked --all-targets --no-run
if [ -n "${WPBACKUP_BUILD_ONLY:-}" ]; then
    exit 0 # scripts/build-times.sh times the build alone
fi

if [ -n "$TOOLS_PID" ]; then
    if ! wait "$TOOLS_PID"; then
        echo "installing the test tools failed:" >&2
        cat target/tools.log >&2
        exit 1
    fi
    cat target/tools.log >&2
else
    install_moto >&2
    install_chromium >&2
fi

export WPBACKUP_TEST_CHROMIUM="$CHROMIUM"

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
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
# Four test threads on two cores: many tests wait (on processes they start, on simulated
# points becoming available, on moto), so the suite takes 90 s instead of 130 s.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --locked --all-targets "$@"
