#!/usr/bin/env bash
# The desktop app's targets (issue 8 §4), measured by tests/app/bench.py on a
# private real stack under Xvfb: cold start, idle CPU, live CPU vs the CLI, RSS.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
DEPS_APP_E2E=1 scripts/deps.sh
APP_BINARY=${APP_BINARY:-$REPO/target/release/mentorcast-app}
MENTORCAST_BIN=${MENTORCAST_BIN:-$REPO/target/release/mentorcast}
[[ -x $APP_BINARY ]] || { echo "test-app: $APP_BINARY missing: run make app" >&2; exit 1; }
[[ -x $MENTORCAST_BIN ]] || cargo build --release --locked -p mentorcast-cli
[[ -x $REPO/target/release/mentorcast-server ]] || cargo build --release --locked -p mentorcast-server

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
WORK=$(mktemp -d -t mentorcast-app-e2e-XXXXXX)
export STACK_DIR=$WORK/stack RTMP_PORT=$(free_port) RTMPS_PORT=$(free_port) HTTP_PORT=$(free_port) SERVER_PORT=$(free_port) COGNITO_PORT=$(free_port) STACK_COGNITO=1
mkdir -p "$STACK_DIR"
cleanup() {
  scripts/stack.sh down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
scripts/stack.sh up >"$WORK/stack.log" 2>&1 || { cat "$WORK/stack.log" >&2; exit 1; }

# The app's environment: this stack's config, a private HOME with no D-Bus session (file token store).
export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/.config XDG_RUNTIME_DIR=$WORK/home
mkdir -p "$HOME" && chmod 700 "$HOME"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$WORK/home/no-bus"
# moto does not check SRP proofs (CONTEXT §5): the app signs in with USER_PASSWORD_AUTH here, so a wrong password is refused for real.
sed 's/^auth_flow = "srp"/auth_flow = "user_password"/' "$STACK_DIR/config.toml" >"$WORK/app-config.toml"
grep -q '^auth_flow = "user_password"' "$WORK/app-config.toml" || { echo "test-app: no auth_flow line in $STACK_DIR/config.toml" >&2; exit 1; }
export MENTORCAST_CONFIG=$WORK/app-config.toml MENTORCAST_APP_SETTINGS=$WORK/home/app-settings.json
export BENCH_JSON=${BENCH_JSON:-$REPO/target/bench-app.json}
export APP_BINARY MENTORCAST_BIN SCREENSHOTS=${SCREENSHOTS:-$REPO/docs/screenshots}
export PATH="$(dirname "$(command -v tauri-driver)"):$PATH"
xvfb-run -a -s "-screen 0 1280x800x24" python3 tests/app/bench.py
