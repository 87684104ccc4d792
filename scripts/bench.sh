#!/usr/bin/env bash
# Benchmark (`make bench`: deps, the UI and the one build first): the local stack,
# then the CLI's bench subcommand against it (extra arguments go to `mentorcast
# bench`), then the fault benches (scripts/bench-faults.py), then the heartbeat load bench against the stack's backend: steps of simulated
# viewers at 750 ms, as mentor1's channel (BENCH_VIEWERS=0 skips it;
# BENCH_VIEWERS_ARGS adds arguments to `mentorcast bench-viewers`).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
export STACK_DIR=${STACK_DIR:-$REPO/.stack}

scripts/stack.sh up

BIN=$REPO/target/release/mentorcast
[[ -x $BIN ]] || { echo "bench: $BIN not built" >&2; exit 1; }
"$BIN" --config "$STACK_DIR/config.toml" bench "$@"

# Staying on air: reconnect times, a throttle, a clean 10 minutes and a 30-minute soak with
# faults (scripts/bench-faults.py; BENCH_FAULTS=0 skips it, BENCH_SOAK_MIN and
# BENCH_CLEAN_MIN shorten it).
if [[ ${BENCH_FAULTS:-1} != 0 ]]; then
  echo
  MENTORCAST=$BIN RTMP_PORT=${RTMP_PORT:-1935} BENCH_OUT="$STACK_DIR/bench-faults.md" python3 scripts/bench-faults.py
fi

if [[ ${BENCH_VIEWERS:-1} != 0 ]]; then
  # mentor1 signs in into a private home (file token store), so the user's own
  # sign-in and keyring are left alone.
  BENCH_HOME=$(mktemp -d)
  trap 'rm -rf "$BENCH_HOME"' EXIT
  as_bench() {
    env HOME="$BENCH_HOME" XDG_CONFIG_HOME="$BENCH_HOME/.config" XDG_RUNTIME_DIR="$BENCH_HOME" \
      DBUS_SESSION_BUS_ADDRESS="unix:path=$BENCH_HOME/no-bus" "$BIN" --config "$STACK_DIR/config.toml" "$@"
  }
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["mentor1"]["password"])' "$STACK_DIR/users.json" |
    as_bench login --username mentor1 --password-stdin >/dev/null 2>&1 ||
    { echo "bench: cannot sign in mentor1 on the stack's Cognito endpoint" >&2; exit 1; }
  server_pid=$(tr -dc '0-9' <"$STACK_DIR/server/server.pid" 2>/dev/null || true)
  echo
  # shellcheck disable=SC2086
  as_bench bench-viewers ${server_pid:+--server-pid "$server_pid"} --markdown "$STACK_DIR/bench-viewers.md" ${BENCH_VIEWERS_ARGS:-}
fi
