#!/usr/bin/env bash
# Runs one of the desktop app's drivers (tests/app/e2e.py: the end to end; tests/app/bench.py:
# the app's CPU and memory targets) against a private real stack (nginx-rtmp + moto + mentorcast-server on
# free ports, as tests/e2e/common.rs does) with the built app under Xvfb over WebDriver
# (tauri-driver → WebKitWebDriver).   usage: scripts/app-harness.sh tests/app/e2e.py
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
DRIVER=${1:?usage: scripts/app-harness.sh tests/app/<driver>.py}
export PATH="$HOME/.cargo/bin:$PATH"
scripts/deps.sh
APP_BINARY=${APP_BINARY:-$REPO/target/release/mentorcast-app}
MENTORCAST_BIN=${MENTORCAST_BIN:-$REPO/target/release/mentorcast}
[[ -x $APP_BINARY ]] || { echo "app-harness: $APP_BINARY missing: run make app" >&2; exit 1; }
[[ -x $MENTORCAST_BIN ]] || cargo build --release --locked -p mentorcast-cli
[[ -x $REPO/target/release/mentorcast-server ]] || cargo build --release --locked -p mentorcast-server

# Free ports below the ephemeral range (32768+), where no outgoing connection can take one
# before the server binds it; walked from a per-run start so the five never collide.
PORT_NEXT=$((20000 + ($$ * 7919) % 12000))
free_port() {
  local p
  for ((i = 0; i < 12000; i++)); do
    p=$PORT_NEXT
    PORT_NEXT=$((20000 + (PORT_NEXT - 20000 + 1) % 12000))
    python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null && { echo "$p"; return; }
  done
  return 1
}
WORK=$(mktemp -d -t mentorcast-app-XXXXXX)
ports=()
for _ in 1 2 3 4 5; do
  p=$(free_port) || { echo "app-harness: no free port" >&2; exit 1; }
  ports+=("$p")
  PORT_NEXT=$((20000 + (p - 20000 + 1) % 12000))
done
export STACK_DIR=$WORK/stack RTMP_PORT=${ports[0]} RTMPS_PORT=${ports[1]} HTTP_PORT=${ports[2]} SERVER_PORT=${ports[3]} COGNITO_PORT=${ports[4]} STACK_COGNITO=1
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
# moto does not check SRP proofs: the app signs in with USER_PASSWORD_AUTH here, so a wrong password is refused for real.
sed 's/^auth_flow = "srp"/auth_flow = "user_password"/' "$STACK_DIR/config.toml" >"$WORK/app-config.toml"
grep -q '^auth_flow = "user_password"' "$WORK/app-config.toml" || { echo "app-harness: no auth_flow line in $STACK_DIR/config.toml" >&2; exit 1; }
export MENTORCAST_CONFIG=$WORK/app-config.toml MENTORCAST_APP_SETTINGS=$WORK/home/app-settings.json
export APP_BINARY MENTORCAST_BIN SCREENSHOTS=${SCREENSHOTS:-$REPO/docs/screenshots} BENCH_JSON=${BENCH_JSON:-$REPO/target/bench-app.json}
export PATH="$(dirname "$(command -v tauri-driver)"):$PATH"
xvfb-run -a -s "-screen 0 1280x800x24" python3 "$DRIVER"
