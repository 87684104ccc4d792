#!/usr/bin/env bash
# Benchmark (first version): deps, release build, local stack, then the CLI's
# bench subcommand against it. Extra arguments go to `mentorcast bench`.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
export STACK_DIR=${STACK_DIR:-$REPO/.stack}

scripts/deps.sh
cargo build --release --workspace
scripts/stack.sh up

BIN=$REPO/target/release/mentorcast
[[ -x $BIN ]] || { echo "bench: $BIN not built" >&2; exit 1; }
"$BIN" --config "$STACK_DIR/config.toml" bench "$@"
