#!/usr/bin/env bash
# Times `wpbackup run --all` of one binary, ROUNDS times: against moto (a fresh elastic site
# made by scripts/moto-site.py each round: EC2, Aurora, S3 with DR copies) and on a fresh
# sandbox (the simulator). Prints one line per run: label, what, wall s, user s, sys s.
# Used to compare builds (e.g. the SDK crates at different opt-levels, docs/performance.md).
#
# Usage: scripts/run-timings.sh LABEL BINARY MOTO_ENDPOINT [ROUNDS]
#   e.g. .venv/bin/moto_server -p 5055 &
#        scripts/run-timings.sh sdk-O0 target/release/wpbackup http://127.0.0.1:5055 5
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,10p' "$0" >&2
    exit 64
fi
label=$1 bin=$(realpath "$2") endpoint=$3 rounds=${4:-5}
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${WPBACKUP_VENV:-$repo/.venv}/bin/python"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for i in $(seq 1 "$rounds"); do
    site="$work/moto-$i" sandbox="$work/sandbox-$i"
    "$python" "$repo/scripts/moto-site.py" "$endpoint" "$site" "t$RANDOM$i" > /dev/null
    (cd "$site" && /usr/bin/time -o "$work/t" -f "%e %U %S" "$bin" --config wpbackup.toml run --all > /dev/null)
    echo "$label moto-run $(cat "$work/t")"
    "$bin" init --sandbox "$sandbox" > /dev/null
    /usr/bin/time -o "$work/t" -f "%e %U %S" "$bin" --config "$sandbox/wpbackup.toml" run --all > /dev/null
    echo "$label sandbox-run $(cat "$work/t")"
done
