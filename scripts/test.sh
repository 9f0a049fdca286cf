#!/usr/bin/env bash
# The project's check command (README "Run the tests"; .ci/run runs exactly this):
# formatting, lints (in the test build), then every test. Installs Debian's chromium (once,
# for the HTML report screenshot), Debian's postgresql (once, for the PostgreSQL catalog)
# and moto server in a virtualenv (once); starts moto server and a throwaway PostgreSQL
# server (initdb into a temporary directory) on free 127.0.0.1 ports, runs the tests with
# WPBACKUP_TEST_MOTO and WPBACKUP_TEST_POSTGRES pointing at them (the server also speaks
# TLS, with a certificate from a CA of the run's own: WPBACKUP_TEST_POSTGRES_CA), and stops
# both again.
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
# The newest PostgreSQL server Debian installed (its binaries are not on PATH).
pg_bin() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then echo "$dir"; else return 1; fi
}
install_postgres() {
    if ! pg_bin > /dev/null; then
        echo "installing Debian's postgresql (for the PostgreSQL catalog tests)"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql \
            || { $SUDO apt-get update -q && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }
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
        install_postgres
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
    install_postgres >&2
fi

export WPBACKUP_TEST_CHROMIUM="$CHROMIUM"

free_port() {
    "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
MOTO_PID=""
PG_DIR=""
stop_servers() {
    if [ -n "$MOTO_PID" ]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DIR" ]; then
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop > /dev/null 2>&1 || true
        rm -rf "$PG_DIR"
    fi
}
trap stop_servers EXIT

PORT="$(free_port)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > target/moto.log 2>&1 &
MOTO_PID=$!

# A throwaway PostgreSQL server: a cluster in a temporary directory, trust authentication
# on 127.0.0.1 only, no fsync (nothing in it outlives the run). PostgreSQL refuses to run
# as root, so as root the cluster belongs to Debian's `postgres` user.
PG_BIN="$(pg_bin)" || { echo "PostgreSQL's server binaries are not installed (Debian package postgresql)" >&2; exit 1; }
AS_PG=()
PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/wpbackup-pg.XXXXXX")"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$PG_DIR"
    AS_PG=(runuser -u postgres --)
fi
PG_PORT="$(free_port)"
# TLS on the same server: a CA of the run's own and a certificate for 127.0.0.1 and
# localhost signed by it, so that a test can connect with sslmode=verify-full.
pg_tls() {
    local d="$PG_DIR/tls"
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=wpbackup test CA" \
        -keyout "$d/ca.key" -out "$d/ca.crt"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/server.ext" -out "$d/server.crt"
    chmod 600 "$d/server.key"
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$d"; fi
}
pg_tls > "$PG_DIR/tls.log" 2>&1 || { cat "$PG_DIR/tls.log" >&2; exit 1; }
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U wpbackup --auth=trust -E UTF8 --no-sync > "$PG_DIR/initdb.log" 2>&1 \
    || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c ssl=on -c ssl_cert_file=$PG_DIR/tls/server.crt -c ssl_key_file=$PG_DIR/tls/server.key" \
    start > /dev/null || { cat "$PG_DIR/server.log" >&2; exit 1; }
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $NF}') on 127.0.0.1:$PG_PORT" >&2
export WPBACKUP_TEST_POSTGRES="postgres://wpbackup@127.0.0.1:$PG_PORT/postgres"
export WPBACKUP_TEST_POSTGRES_CA="$PG_DIR/tls/ca.crt"

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
