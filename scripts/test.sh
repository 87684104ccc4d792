#!/usr/bin/env bash
# `make test`: every suite, one after another, each timed; a table of the times at the
# end (and on failure, up to the suite that failed), so the CI budget stays visible.
# Formatting and lints first (rustfmt.toml; clippy with warnings as errors).
# The Rust suites are timed per test binary (cargo's own "finished in"), the rest as a whole.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
LOG_DIR=$REPO/target/test-logs
mkdir -p "$LOG_DIR"
TIMES=$LOG_DIR/times.tsv
: >"$TIMES"

# A suite's time (counted in the total), or one of its parts (shown under it).
record() { printf 'suite\t%s\t%s\n' "$1" "$2" >>"$TIMES"; }
summary() {
  local rc=$?
  echo
  echo "== make test: time per suite =="
  awk -F'\t' '
    $1 == "part" && $3 >= 0.5 { printf "      %-50s %7.1f s\n", $2, $3 }
    $1 == "suite" { printf "  %-54s %7.1f s\n", $2, $3; total += $3 }
    END { printf "  %-54s %7.1f s\n", "total", total }' "$TIMES"
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
    /^test result: / { for (i = 1; i <= NF; i++) if ($i == "in") { t = $(i + 1); sub(/s$/, "", t) } if (name != "") printf "part\t%s\t%s\n", name, t; name = "" }
  ' "$LOG_DIR/cargo-test.log" >"$LOG_DIR/cargo-parts.tsv"
  record "cargo test (each binary below, by its own clock)" $((SECONDS - start))
  cat "$LOG_DIR/cargo-parts.tsv" >>"$TIMES"
  return $rc
}

suite "rustfmt (cargo fmt --check)" cargo fmt --all -- --check
# --release: the build scripts (openh264, fdk-aac and SQLite compile C) and proc macros of the
# release build are reused, instead of being compiled again in the dev profile.
suite "clippy (-D warnings)" cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== cargo test --release --workspace (unit, crate and end-to-end suites) =="
cargo_suites
suite "ui: Vitest" npm --prefix ui test
suite "app: WebDriver end to end (Xvfb)" env SCREENSHOTS="$REPO/target/app-screenshots" scripts/app-harness.sh tests/app/e2e.py
