#!/usr/bin/env bash
# Idempotent installer for what Mentorcast's shell/infra layer needs.
# Quiet ("deps: ok") when everything is already present.
set -euo pipefail

# nasm: openh264 builds its x86 assembly with it (about 4x faster encoding).
# python3-venv: the project venv (.venv/) with moto, the local Cognito endpoint.
# libdbus-1-dev pkg-config: the keyring crate's Secret Service backend (libdbus).
# gnome-keyring dbus libsecret-tools: a headless Secret Service for the keyring tests.
# libasound2-dev: cpal's ALSA bindings (microphones); libclang-dev: bindgen for nokhwa's V4L2 bindings (cameras).
# pulseaudio pulseaudio-utils libasound2-plugins: a real audio device for the microphone tests (null sink + ALSA pulse plugin).
# chromium: the watch page's end-to-end test (headless); npm (when no npm is there): hls.js for the watch page.
# iproute2 nftables: the shaped-link tests (a network namespace, tc tbf, nftables loss rules).
APT_PKGS=(nginx libnginx-mod-rtmp libnginx-mod-stream ffmpeg openssl curl nasm
  python3-venv libdbus-1-dev pkg-config gnome-keyring dbus libsecret-tools
  libasound2-dev libclang-dev pulseaudio pulseaudio-utils libasound2-plugins chromium iproute2 nftables)
command -v npm >/dev/null || APT_PKGS+=(npm)

missing=()
for p in "${APT_PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d 101 keeps the Debian nginx package from auto-starting a
  # system nginx on :80 while installing; we run our own nginx (scripts/stack.sh).
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ $EUID -eq 0 && ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
  fi
  cleanup() { if ((added_policy)); then rm -f "$policy"; fi; }
  trap cleanup EXIT
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  cleanup; trap - EXIT
fi

# The system nginx service is not needed (our stack runs its own nginx with its
# own prefix and never uses port 80). Stop it if the package started it.
sys_pid=""
[[ -r /run/nginx.pid ]] && sys_pid=$(cat /run/nginx.pid 2>/dev/null || true)
if [[ -n "$sys_pid" ]] && kill -0 "$sys_pid" 2>/dev/null; then
  echo "deps: stopping system nginx service (pid $sys_pid)"
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl stop nginx >/dev/null 2>&1 || true
    systemctl disable nginx >/dev/null 2>&1 || true
  fi
  if kill -0 "$sys_pid" 2>/dev/null && command -v service >/dev/null; then
    service nginx stop >/dev/null 2>&1 || true
  fi
  if kill -0 "$sys_pid" 2>/dev/null; then
    # last resort: that exact master pid, never a broad pkill
    kill -QUIT "$sys_pid" 2>/dev/null || true
  fi
fi

for m in ngx_rtmp_module.so ngx_stream_module.so; do
  [[ -f /usr/lib/nginx/modules/$m ]] || { echo "deps: /usr/lib/nginx/modules/$m missing after install" >&2; exit 1; }
done

# Python venv for the local Cognito endpoint (moto's server) and its provisioning
# script (boto3 comes with moto). Pinned; installed only when missing.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$REPO/.venv
MOTO_VERSION=5.2.5
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
venv_ok() {
  [[ -x $VENV/bin/moto_server ]] &&
    "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("moto") != sys.argv[1])' "$MOTO_VERSION" 2>/dev/null &&
    "$VENV/bin/python" -c 'import boto3, flask, flask_cors, joserfc' 2>/dev/null
}
if ! venv_ok; then
  echo "deps: installing moto[server]==$MOTO_VERSION into $VENV"
  [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >/dev/null
  venv_ok || { echo "deps: moto not usable in $VENV after install" >&2; exit 1; }
fi

# hls.js for the watch page (served by mentorcast-server; no CDN), pinned by
# crates/server/web/package-lock.json; `npm ci` only when missing or another version.
WEB=$REPO/crates/server/web
hlsjs_ok() {
  [[ -s $WEB/node_modules/hls.js/dist/hls.min.js ]] &&
    node -e 'const l=require(process.argv[1]).packages["node_modules/hls.js"].version, i=require(process.argv[2]).version; process.exit(l===i?0:1)' \
      "$WEB/package-lock.json" "$WEB/node_modules/hls.js/package.json" 2>/dev/null
}
if ! hlsjs_ok; then
  echo "deps: installing hls.js into $WEB/node_modules (npm ci)"
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  hlsjs_ok || { echo "deps: hls.js not usable in $WEB/node_modules after npm ci" >&2; exit 1; }
fi

# Rust toolchain: preinstalled via rustup.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "deps: cargo not found (install the Rust toolchain with rustup)" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  # make sure a default toolchain is actually usable (no download if it is)
  if ! cargo --version >/dev/null 2>&1; then
    echo "deps: rustup has no usable default toolchain; installing stable"
    rustup default stable >/dev/null
  fi
fi

# --- Desktop app: Tauri 2's Linux build deps, the WebDriver
# end-to-end tools (webkit2gtk-driver = WebKitWebDriver, xvfb + xauth for xvfb-run),
# tauri-driver (cargo install, pinned), and the UI's npm packages (ui/package-lock.json).
# libturbojpeg0-dev: the preview's JPEG encoder (libjpeg-turbo, linked by crates/app-core).
# gstreamer1.0-libav + -plugins-good: WebKitGTK's <video> decodes the recordings' H.264/AAC MP4 through them.
APP_APT_PKGS=(libwebkit2gtk-4.1-dev libturbojpeg0-dev build-essential libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  gstreamer1.0-libav gstreamer1.0-plugins-good webkit2gtk-driver xvfb xauth)
app_missing=()
for p in "${APP_APT_PKGS[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || app_missing+=("$p")
done
if ((${#app_missing[@]})); then
  echo "deps: installing ${app_missing[*]} (desktop app)"
  APP_SUDO=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install ${app_missing[*]}" >&2; exit 1; }
    APP_SUDO=(sudo)
  fi
  DEBIAN_FRONTEND=noninteractive "${APP_SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${APP_SUDO[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${app_missing[@]}" >/dev/null
fi
# tauri-driver: the WebDriver proxy the app's end to end and bench run through (scripts/app-harness.sh).
TAURI_DRIVER_VERSION=2.1.0
if ! PATH="$HOME/.cargo/bin:$PATH" cargo install --list 2>/dev/null | grep -qx "tauri-driver v$TAURI_DRIVER_VERSION:"; then
  echo "deps: installing tauri-driver $TAURI_DRIVER_VERSION (cargo install)"
  PATH="$HOME/.cargo/bin:$PATH" cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
fi
UI=$REPO/ui
ui_ok() {
  [[ -x $UI/node_modules/.bin/vite && -x $UI/node_modules/.bin/tauri ]] &&
    node -e 'const l=require(process.argv[1]).packages["node_modules/@tauri-apps/cli"].version, i=require(process.argv[2]).version; process.exit(l===i?0:1)' \
      "$UI/package-lock.json" "$UI/node_modules/@tauri-apps/cli/package.json" 2>/dev/null &&
    [[ ! $UI/package-lock.json -nt $UI/node_modules/.package-lock.json ]]
}
if ! ui_ok; then
  echo "deps: installing the UI's packages into $UI/node_modules (npm ci)"
  (cd "$UI" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  ui_ok || { echo "deps: the UI's packages are not usable after npm ci" >&2; exit 1; }
fi

echo "deps: ok"
