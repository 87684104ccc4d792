#!/usr/bin/env bash
# `make run`, after `make build` (deps, the UI, then everything in one release build,
# scripts/build.sh: the binaries `make test` uses too): starts the local stack, sends
# a 20 s synthetic test broadcast, verifies what the ingest received (live, over RTMP,
# while it is sent) and says where to watch it. With a display it then starts the
# desktop app (the one that build made) against that stack.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
export STACK_DIR=${STACK_DIR:-$REPO/.stack}
DURATION=${DURATION:-20}
KEY=${KEY:-demo}

[[ -x target/release/mentorcast && -x target/release/mentorcast-server ]] || { echo "run: nothing built: use make run (deps, UI, build, then this)" >&2; exit 1; }
scripts/stack.sh up

BIN=$REPO/target/release/mentorcast
rtmp_url=$(sed -n 's/^url = "\(rtmp:[^"]*\)"/\1/p' "$STACK_DIR/config.toml" | head -n 1)
hls_url=$(sed -n 's/^hls_url = "\([^"]*\)"/\1/p' "$STACK_DIR/config.toml" | head -n 1)

scenario=$STACK_DIR/demo-scenario.toml
cat >"$scenario" <<TOML
[[scenario]]
name = "make-run-demo"
url = "$rtmp_url"
key = "$KEY"
verify = "$rtmp_url/$KEY"
resolution = "1280x720"
fps = 30
video_kbps = 2500
audio_kbps = 128
duration_s = $DURATION
[scenario.expect]
max_frame_loss_pct = 1.0
min_fps_ratio = 0.95
max_av_offset_ms = 40
TOML

cat <<MSG

Sending a ${DURATION} s test broadcast (1280x720@30, moving pattern, frame counter, flash + beep each second).
Watch it while it runs:
  ffplay $rtmp_url/$KEY
  HLS: $hls_url/$KEY.m3u8   (e.g. ffplay $hls_url/$KEY.m3u8, or any hls.js page)

MSG
set +e
"$BIN" run "$scenario" --json "$STACK_DIR/demo-report.json" --junit "$STACK_DIR/demo-junit.xml"
rc=$?
set -e
rec=$(ls -t "$STACK_DIR"/record/"$KEY"-*.flv 2>/dev/null | head -n 1 || true)
echo
echo "Report: $STACK_DIR/demo-report.json (JUnit: $STACK_DIR/demo-junit.xml)"
[[ -n $rec ]] && echo "Recording: $rec   (play: ffplay $rec; check: $BIN verify $rec)"
echo "The stack keeps running: make stack-down stops it."
# With a display: the desktop app against this stack (sign in as mentor1; passwords in $STACK_DIR/users.json).
if [[ -n ${DISPLAY:-}${WAYLAND_DISPLAY:-} ]]; then
  APP_BIN=$REPO/target/release/mentorcast-app
  echo "Starting the desktop app: $APP_BIN (users and passwords: $STACK_DIR/users.json; log: $STACK_DIR/app.log)"
  MENTORCAST_CONFIG=$STACK_DIR/config.toml nohup "$APP_BIN" >"$STACK_DIR/app.log" 2>&1 &
else
  echo "No display: the desktop app was built ($REPO/target/release/mentorcast-app) but not started."
fi
exit $rc
