#!/usr/bin/env bash
# `make test`: every suite, one after another, each timed; a table of the times at the
# end (and on failure, up to the suite that failed), so the CI budget stays visible.
# The Rust suites are timed per test binary (cargo's own "finished in"), the rest as a whole.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
LOG_DIR=$REPO/target/test-logs
mkdir -p "$LOG_DIR"
TIMES=$LOG_DIR/times.tsv
: >"$TIMES"

record() { printf '%s\t%s\n' "$1" "$2" >>"$TIMES"; }
summary() {
  local rc=$?
  echo
  echo "== make test: time per suite =="
  awk -F'\t' '{ printf "  %-48s %7.1f s\n", $1, $2; total += $2 } END { printf "  %-48s %7.1f s\n", "total", total }' "$TIMES"
  ((rc == 0)) || echo "make test: FAILED (exit $rc); the last suite above is the one that failed"
}
trap summary EXIT

# Runs "$@" as suite $1 (the rest is the command) and records its wall time.
suite() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "== $name =="
  "$@" || rc=$?
  record "$name" $((SECONDS - start))
  return $rc
}

# cargo test, with each test binary's own time recorded from its "finished in".
cargo_suites() {
  local start=$SECONDS rc=0
  cargo test --release --workspace --locked 2>&1 | tee "$LOG_DIR/cargo-test.log" || rc=$?
  awk '
    /^ *Running / { src = ($2 == "unittests") ? $3 : $2; name = src; if (match($0, /\(target\/[^)]*\/deps\/[^)]*\)/)) { n = substr($0, RSTART + 1, RLENGTH - 2); sub(/.*\/deps\//, "", n); sub(/-[0-9a-f]+$/, "", n); name = n " (" src ")" } }
    /^ *Doc-tests / { name = "doc-tests " $2 }
    /^test result: / { for (i = 1; i <= NF; i++) if ($i == "in") { t = $(i + 1); sub(/s$/, "", t) } if (name != "") printf "cargo: %s\t%s\n", name, t; name = "" }
  ' "$LOG_DIR/cargo-test.log" >>"$TIMES"
  record "cargo test (all of it, incl. build check)" $((SECONDS - start))
  return $rc
}

echo "== cargo test --release --workspace (unit, crate and end-to-end suites) =="
cargo_suites
suite "ui: Vitest" npm --prefix ui test
suite "app: WebDriver end to end (Xvfb)" env SCREENSHOTS="$REPO/target/app-screenshots" scripts/app-harness.sh tests/app/e2e.py
