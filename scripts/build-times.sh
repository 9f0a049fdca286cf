#!/usr/bin/env bash
# Measures what the build costs a newcomer and an engineer on this machine, from a fresh
# clone of the committed HEAD in a temporary directory (nothing of this checkout's target/
# is reused):
#
#   * the README's test command (./scripts/test.sh) and its try-it command, both cold, in
#     the order given (tests-first, try-first, or both: two clones);
#   * the edit-and-test loop: `cargo test --no-run` after a one-line change in src/domain/
#     and one in src/cli/ (the first plain build after the test command is shown apart);
#   * the size of target/ after both README commands;
#   * peak memory of the largest single process of each step (GNU time's maximum RSS).
#
# Figures are printed as a table at the end (and kept in $OUT, default
# target/build-times.txt of this checkout). It takes as long as the builds it measures
# (about half an hour for one order on 2 cores): run it with nothing else building.
#
# Usage: scripts/build-times.sh [tests-first|try-first|both]
set -euo pipefail
ORDER="${1:-tests-first}"
case "$ORDER" in
    tests-first | try-first | both) ;;
    *)
        echo "usage: $0 [tests-first|try-first|both]  (got: $ORDER)" >&2
        exit 64
        ;;
esac
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$REPO/target/build-times.txt}"
mkdir -p "$(dirname "$OUT")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wpbackup-build-times.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
TIME=/usr/bin/time
if [ ! -x "$TIME" ]; then
    echo "GNU time (/usr/bin/time, Debian package 'time') is needed to read peak memory" >&2
    exit 69
fi

RESULTS="$WORK/results.tsv"
: > "$RESULTS"

# measure LABEL DIR COMMAND...: runs COMMAND in DIR, records wall seconds and peak RSS.
measure() {
    local label="$1" dir="$2"
    shift 2
    local stats="$WORK/stats" log
    log="$WORK/$(echo "$label" | tr -c 'a-zA-Z0-9\n' '-').log"
    echo "== $label" >&2
    if ! (cd "$dir" && "$TIME" -f '%e %M' -o "$stats" "$@" > "$log" 2>&1); then
        echo "$label failed; its output:" >&2
        tail -40 "$log" >&2
        exit 1
    fi
    read -r secs kib < "$stats"
    printf '%s\t%s\t%s\n' "$label" "$secs" "$kib" >> "$RESULTS"
    printf '   %s s, peak %s MiB\n' "$secs" "$((kib / 1024))" >&2
}

# The README's try-it command, exactly as written there, with the sandbox in $WORK.
TRY_IT="$(grep -m1 -E '^cargo run .*init --sandbox /tmp/wp' "$REPO/README.md")"
if [ -z "$TRY_IT" ]; then
    echo "README.md has no 'cargo run … init --sandbox /tmp/wp …' line to measure" >&2
    exit 65
fi

clone() {
    local dir="$WORK/$1"
    git clone --quiet --no-local "$REPO" "$dir"
    echo "$dir"
}

try_it() {
    local dir="$1" sandbox="$WORK/sandbox-$RANDOM"
    measure "$2" "$dir" bash -c "${TRY_IT//\/tmp\/wp/$sandbox}"
}

# one_line_change FILE N: a realistic one-line edit (a new private item) at the end of FILE.
one_line_change() {
    printf '#[allow(dead_code)]\nconst BUILD_TIMES_PROBE_%s: u32 = %s;\n' "$2" "$2" >> "$1"
}

loop() {
    local dir="$1"
    measure "cargo test --no-run after both README commands (first plain test build)" "$dir" \
        cargo test --locked --no-run
    one_line_change "$dir/src/domain/retention.rs" 1
    measure "cargo test --no-run after a one-line change in src/domain/" "$dir" \
        cargo test --locked --no-run
    one_line_change "$dir/src/cli/mod.rs" 2
    measure "cargo test --no-run after a one-line change in src/cli/" "$dir" \
        cargo test --locked --no-run
    one_line_change "$dir/src/domain/retention.rs" 3
    measure "test command's build after a one-line change in src/domain/" "$dir" \
        bash -c 'WPBACKUP_BUILD_ONLY=1 ./scripts/test.sh'
    git -C "$dir" checkout --quiet -- src
}

if [ "$ORDER" = tests-first ] || [ "$ORDER" = both ]; then
    dir="$(clone tests-first)"
    measure "./scripts/test.sh cold" "$dir" ./scripts/test.sh
    try_it "$dir" "try-it after the tests"
    printf 'target/ after both\t%s\t-\n' "$(du -sh "$dir/target" | cut -f1)" >> "$RESULTS"
    loop "$dir"
    rm -rf "$dir"
fi
if [ "$ORDER" = try-first ] || [ "$ORDER" = both ]; then
    dir="$(clone try-first)"
    try_it "$dir" "try-it cold"
    measure "./scripts/test.sh after the try-it" "$dir" ./scripts/test.sh
    printf 'target/ after both (try-it first)\t%s\t-\n' "$(du -sh "$dir/target" | cut -f1)" >> "$RESULTS"
    rm -rf "$dir"
fi

{
    echo "wpbackup build times, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(git -C "$REPO" rev-parse --short HEAD), $(rustc --version)"
    printf '%-66s %10s %14s\n' step seconds "peak MiB"
    while IFS=$'\t' read -r label secs kib; do
        if [ "$kib" = - ]; then
            printf '%-66s %10s %14s\n' "$label" "$secs" ""
        else
            printf '%-66s %10s %14s\n' "$label" "$secs" "$((kib / 1024))"
        fi
    done < "$RESULTS"
} | tee "$OUT"
