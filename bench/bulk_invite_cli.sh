#!/bin/bash
# Bulk invite wall time through the real CLI (hospes invite --csv), on a fresh SQLite data dir.
# Usage: bench/bulk_invite_cli.sh [ROWS=10000] [SRC=src]   (SRC: the source tree to run, e.g. an older checkout's src)
set -euo pipefail
ROWS=${1:-10000}
SRC=$(realpath "${2:-src}")
PY="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/python"  # not realpath: the venv python is a symlink
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
export HOSPES_DATA_DIR=$DIR PYTHONPATH=$SRC
"$PY" -m hospes tenant create --name Bulk --domain bulk.example --json > /dev/null
"$PY" - "$DIR/guests.csv" "$ROWS" <<'PY'
import csv, sys
with open(sys.argv[1], "w", newline="") as handle:
    out = csv.writer(handle)
    out.writerow(["email", "display name", "redirect URL", "message"])
    for i in range(int(sys.argv[2])):
        out.writerow([f"guest{i}@partner.example", f"Guest {i}", "https://app.example/", "Welcome aboard"])
PY
start=$(date +%s.%N)
"$PY" -m hospes invite --tenant bulk.example --csv "$DIR/guests.csv" --out "$DIR/results.csv" 2> /dev/null || true
end=$(date +%s.%N)
ok=$(grep -c ",ok," "$DIR/results.csv" || true)
python3 -c "print(f'bulk invite (CLI): $ROWS rows in {$end - $start:.1f} s ({$ROWS / ($end - $start):.0f} rows/s), $ok ok')"
