#!/usr/bin/env bash
# Local ingest stack for Mentorcast: nginx + nginx-rtmp (RTMP, recording, HLS),
# an HTTP side (stat, HLS, health, publish-auth hook) and a TLS terminator (RTMPS).
#
#   scripts/stack.sh up|down|status
#   scripts/stack.sh cognito-up|cognito-down     the local Cognito endpoint alone
#   scripts/stack.sh reload [STACK_DIR]          nginx re-reads its config; returns once only
#                                                the new workers accept connections (the
#                                                backend's reload command for channel apps)
#
# Env overrides (several independent stacks can run at once):
#   STACK_DIR   default $REPO/.stack   everything lives here (conf, logs, pid, tls, record, hls)
#   RTMP_PORT   default 1935
#   RTMPS_PORT  default 1936
#   HTTP_PORT   default 8935
#   COGNITO_PORT  default 4566   moto's server as the local Cognito endpoint
#   STACK_COGNITO default 1      0: up/down leave the Cognito endpoint (and the backend) alone
#   SERVER_PORT   default 8940   mentorcast-server, the backend (started with the Cognito
#                                endpoint: it verifies that pool's tokens)
#   SERVER_BIN    default $REPO/target/release/mentorcast-server (built when missing)
#
# Layout under STACK_DIR:
#   config.toml          CLI config (written at up)
#   guarded_key          the one stream key the `guarded` app accepts
#   nginx/nginx.conf     generated nginx config; nginx/nginx.pid master pid
#   nginx/channel-app.template   one channel's `application {app}` block (0600: hook secret)
#   nginx/channel-apps.conf      every channel's block, written by mentorcast-server, included by nginx.conf
#   nginx/logs/          error.log (notice level: info would log stream keys and hook URLs), access.log
#   tls/                 ca.pem ca.key (private CA), server.pem server.key (localhost, 127.0.0.1)
#   record/              {key}-{unix ts}.flv from application `live`
#   hls/                 {key}.m3u8 + {key}-N.ts from application `live`
#   moto/moto.pid        the Cognito endpoint (moto_server from .venv/); moto/moto.log
#   users.json           the provisioned Cognito users and their passwords (0600)
#   server/              mentorcast-server: server.toml (0600), server.pid, server.log,
#                        mentorcast.db (SQLite), data/recordings/{app}/*.mp4|jpg
#   channels/record/     {app}-{unix ts}.flv from the channel applications
#   channels/hls/        {app}.m3u8 + segments (application hls-relay)
#
# RTMP applications:
#   live      open; records to record/ and produces HLS; drops idle publishers after 10 s
#   guarded   on_publish hook (GET to the HTTP side): only the key in guarded_key may publish
#   denied    `deny publish all`: every publish is refused
#   probe     connection tests: publishes are neither recorded nor relayed, nobody may play
#   room-*    one per mentor's channel (from the backend): on_publish accepts only the
#             channel's current key and renames the stream to the app (302), records,
#             and pushes to hls-relay (HLS named after the app: the key is in no URL or file)
#   hls-relay HLS of the channels; accepts only that push (checked by the backend)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# `reload DIR`: the backend names the stack it belongs to (its environment may not say).
[[ ${1:-} == reload && -n ${2:-} ]] && STACK_DIR=$2
STACK_DIR=${STACK_DIR:-$REPO/.stack}
STACK_DIR=$(realpath -m -- "$STACK_DIR")
RTMP_PORT=${RTMP_PORT:-1935}
RTMPS_PORT=${RTMPS_PORT:-1936}
HTTP_PORT=${HTTP_PORT:-8935}
COGNITO_PORT=${COGNITO_PORT:-4566}
STACK_COGNITO=${STACK_COGNITO:-1}
SERVER_PORT=${SERVER_PORT:-8940}
READY_TIMEOUT=${READY_TIMEOUT:-10}

NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
MODDIR=/usr/lib/nginx/modules
NGX_DIR=$STACK_DIR/nginx
CONF=$NGX_DIR/nginx.conf
PIDFILE=$NGX_DIR/nginx.pid
LOGDIR=$NGX_DIR/logs
ERRLOG=$LOGDIR/error.log
TLS_DIR=$STACK_DIR/tls
RECORD_DIR=$STACK_DIR/record
HLS_DIR=$STACK_DIR/hls
KEYFILE=$STACK_DIR/guarded_key
VENV=$REPO/.venv
MOTO_DIR=$STACK_DIR/moto
MOTO_PIDFILE=$MOTO_DIR/moto.pid
MOTO_LOG=$MOTO_DIR/moto.log
APPS_FILE=$NGX_DIR/channel-apps.conf
APP_TEMPLATE=$NGX_DIR/channel-app.template
CH_RECORD_DIR=$STACK_DIR/channels/record
CH_HLS_DIR=$STACK_DIR/channels/hls
SERVER_DIR=$STACK_DIR/server
SERVER_CONF=$SERVER_DIR/server.toml
SERVER_PIDFILE=$SERVER_DIR/server.pid
SERVER_LOG=$SERVER_DIR/server.log
HOOK_SECRET_FILE=$SERVER_DIR/hook_secret
SERVER_BIN=${SERVER_BIN:-$REPO/target/release/mentorcast-server}

log() { echo "stack: $*"; }
die() { echo "stack: error: $*" >&2; exit 1; }

# PID of our running nginx master, or empty.
running_pid() {
  [[ -f $PIDFILE ]] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  # guard against pid reuse: it must be an nginx process
  if [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q nginx; then
    return 0
  fi
  echo "$pid"
}

# The worker processes of nginx master $1, one "PID TITLE" line each.
workers_of() { ps -o pid=,args= --ppid "$1" 2>/dev/null | grep 'worker process' || true; }

# Whether master $1 has exactly one worker accepting connections (none left from an
# older configuration: a worker told to quit is titled "... is shutting down" and has
# closed its listening sockets). A subscriber and a publisher arriving now meet in it.
nginx_settled() {
  local active
  active=$(workers_of "$1" | grep -vc 'shutting down' || true)
  [[ $active == 1 ]]
}

# Waits until nginx master $1 is settled (see nginx_settled), for up to $2 seconds.
wait_settled() {
  local deadline=$((SECONDS + $2))
  until nginx_settled "$1"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

check_port() {
  local p=$1 name=$2
  if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
    die "$name='$p' is not a port"
  fi
}

gen_tls() {
  mkdir -p "$TLS_DIR"
  local renew_server=0
  if [[ ! -s $TLS_DIR/ca.pem || ! -s $TLS_DIR/ca.key ]] ||
     ! openssl x509 -in "$TLS_DIR/ca.pem" -noout -checkend 86400 >/dev/null 2>&1; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$TLS_DIR/ca.key" 2>/dev/null
    openssl req -x509 -new -sha256 -key "$TLS_DIR/ca.key" -days 825 \
      -subj "/O=Mentorcast/CN=Mentorcast local test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
      -addext "subjectKeyIdentifier=hash" \
      -out "$TLS_DIR/ca.pem" 2>/dev/null
    renew_server=1
  fi
  if ((renew_server)) || [[ ! -s $TLS_DIR/server.pem || ! -s $TLS_DIR/server.key ]] ||
     ! openssl x509 -in "$TLS_DIR/server.pem" -noout -checkend 86400 >/dev/null 2>&1; then
    local ext=$TLS_DIR/server.ext csr=$TLS_DIR/server.csr
    cat >"$ext" <<'EOT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOT
    openssl ecparam -name prime256v1 -genkey -noout -out "$TLS_DIR/server.key" 2>/dev/null
    openssl req -new -sha256 -key "$TLS_DIR/server.key" -subj "/O=Mentorcast/CN=localhost" \
      -out "$csr" 2>/dev/null
    openssl x509 -req -sha256 -in "$csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 825 -extfile "$ext" \
      -out "$TLS_DIR/server.pem" 2>/dev/null
    rm -f "$csr" "$ext"
  fi
  chmod 600 "$TLS_DIR/ca.key" "$TLS_DIR/server.key"
  openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null ||
    die "generated server certificate does not verify against $TLS_DIR/ca.pem"
}

write_conf() {
  local key=$1 secret=$2 user_line=""
  if [[ $EUID -eq 0 ]]; then
    # workers would otherwise run as nobody and could not write record/ and hls/
    user_line="user root;"
  fi
  cat >"$CONF.tmp" <<EOF
# generated by scripts/stack.sh up -- do not edit
load_module $MODDIR/ngx_rtmp_module.so;
load_module $MODDIR/ngx_stream_module.so;

$user_line
worker_processes 1;
daemon on;
master_process on;
pid "$PIDFILE";
error_log "$ERRLOG" notice;

events {
    worker_connections 1024;
}

rtmp {
    server {
        listen 127.0.0.1:$RTMP_PORT;
        chunk_size 4096;

        application live {
            live on;
            record all;
            record_path "$RECORD_DIR";
            record_unique on;
            record_suffix .flv;
            hls on;
            hls_path "$HLS_DIR";
            hls_fragment 2s;
            hls_playlist_length 10s;
            drop_idle_publisher 10s;
        }

        # Only the key in $KEYFILE may publish here. notify_method get makes
        # nginx-rtmp send the hook's form fields as the query string, so the
        # http side can check \$arg_name (it cannot read a POST body in 'if').
        application guarded {
            live on;
            notify_method get;
            on_publish http://127.0.0.1:$HTTP_PORT/auth/publish;
        }

        # Connection tests (mentorcast test-connection, the app's Test connection): a
        # publish here is neither recorded nor relayed, and nobody may play it.
        application probe {
            live on;
            deny play all;
            drop_idle_publisher 5s;
        }

        # Every publish refused by the access module.
        application denied {
            live on;
            deny publish all;
        }

        # HLS of the mentors' channels: each channel application pushes its
        # (renamed) stream here with relay=<hook secret>; the backend accepts
        # only that. Playlists are {app}.m3u8: no stream key in any URL.
        application hls-relay {
            live on;
            hls on;
            hls_path "$CH_HLS_DIR";
            hls_fragment 2s;
            hls_playlist_length 10s;
            on_publish http://127.0.0.1:$SERVER_PORT/hooks/on_relay?secret=$secret;
        }

        # One application per channel, written by mentorcast-server from
        # $APP_TEMPLATE.
        include "$APPS_FILE";
    }
}

http {
    access_log "$LOGDIR/access.log";
    client_body_temp_path "$NGX_DIR/tmp/client_body";
    proxy_temp_path       "$NGX_DIR/tmp/proxy";
    fastcgi_temp_path     "$NGX_DIR/tmp/fastcgi";
    uwsgi_temp_path       "$NGX_DIR/tmp/uwsgi";
    scgi_temp_path        "$NGX_DIR/tmp/scgi";
    sendfile on;
    server_tokens off;
    default_type application/octet-stream;

    server {
        listen 127.0.0.1:$HTTP_PORT;

        location = /healthz {
            default_type text/plain;
            return 200 "ok\n";
        }

        location = /stat {
            rtmp_stat all;
        }

        # nginx-rtmp's control API (127.0.0.1 only): the app's end to end drops a live
        # publisher here to see the app reconnect (/control/drop/publisher?app=...).
        location /control {
            rtmp_control all;
        }

        location = /auth/publish {
            default_type text/plain;
            if (\$arg_name = "$key") {
                return 204;
            }
            return 403 "publish denied\n";
        }

        location /channels/ {
            alias "$CH_HLS_DIR/";
            types {
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }
            add_header Cache-Control "no-cache" always;
            add_header Access-Control-Allow-Origin "*" always;
            add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS" always;
            add_header Access-Control-Allow-Headers "Range" always;
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;
            if (\$request_method = OPTIONS) {
                return 204;
            }
        }

        location /hls/ {
            alias "$HLS_DIR/";
            types {
                application/vnd.apple.mpegurl m3u8;
                video/mp2t ts;
            }
            add_header Cache-Control "no-cache" always;
            add_header Access-Control-Allow-Origin "*" always;
            add_header Access-Control-Allow-Methods "GET, HEAD, OPTIONS" always;
            add_header Access-Control-Allow-Headers "Range" always;
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;
            if (\$request_method = OPTIONS) {
                return 204;
            }
        }
    }
}

stream {
    server {
        listen 127.0.0.1:$RTMPS_PORT ssl;
        proxy_pass 127.0.0.1:$RTMP_PORT;
        ssl_certificate     "$TLS_DIR/server.pem";
        ssl_certificate_key "$TLS_DIR/server.key";
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:rtmps_$RTMPS_PORT:1m;
        ssl_handshake_timeout 10s;
        proxy_connect_timeout 5s;
        proxy_timeout 10m;
    }
}
EOF
  mv -f "$CONF.tmp" "$CONF"
}

# One channel's application ({app} is filled in by mentorcast-server).
write_app_template() {
  local secret=$1 hook=http://127.0.0.1:$SERVER_PORT/hooks
  (umask 077; cat >"$APP_TEMPLATE.tmp" <<EOF
        application {app} {
            live on;
            record all;
            record_path "$CH_RECORD_DIR";
            record_unique on;
            record_suffix .flv;
            drop_idle_publisher 10s;
            push rtmp://127.0.0.1:$RTMP_PORT/hls-relay playPath={app}?relay=$secret;
            on_publish $hook/on_publish?secret=$secret;
            on_publish_done $hook/on_publish_done?secret=$secret;
            on_record_done $hook/on_record_done?secret=$secret;
        }
EOF
  )
  mv -f "$APP_TEMPLATE.tmp" "$APP_TEMPLATE"
}

write_cli_config() {
  cat >"$STACK_DIR/config.toml.tmp" <<EOF
# written by scripts/stack.sh up
[ingest]
url = "rtmp://127.0.0.1:$RTMP_PORT/live"
[ingest.tls]
url = "rtmps://localhost:$RTMPS_PORT/live"
ca_file = "$TLS_DIR/ca.pem"
[stack]
dir = "$STACK_DIR"
record_dir = "$RECORD_DIR"
hls_url = "http://127.0.0.1:$HTTP_PORT/hls"
stat_url = "http://127.0.0.1:$HTTP_PORT/stat"
guarded_url = "rtmp://127.0.0.1:$RTMP_PORT/guarded"
channels_hls_url = "http://127.0.0.1:$HTTP_PORT/channels"
channels_record_dir = "$CH_RECORD_DIR"
EOF
  if [[ $STACK_COGNITO != 0 ]]; then
    cat >>"$STACK_DIR/config.toml.tmp" <<EOF
[api]
url = "http://127.0.0.1:$SERVER_PORT"
EOF
  fi
  mv -f "$STACK_DIR/config.toml.tmp" "$STACK_DIR/config.toml"
}

tcp_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

is_ready() {
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null &&
    tcp_open "$RTMP_PORT" && tcp_open "$RTMPS_PORT"
}

# Stop the master in $1: TERM, wait ~5 s, then KILL it and any workers left.
# TERM, up to $2 tenths of a second to exit, then KILL (and up to 2 s more).
terminate() {
  local pid=$1 tenths=$2 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < tenths; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  log "pid $pid ignored TERM for $((tenths / 10)) s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# The PID in pid file $1 when that process is alive and its command line holds $2; else empty.
tracked_pid() {
  [[ -f $1 ]] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$1" 2>/dev/null || true)
  [[ -n $pid ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  if [[ -r /proc/$pid/cmdline ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"; then
    return 0
  fi
  echo "$pid"
}

# Stops the process behind pid file $1 (found by tracked_pid with $2), waiting $3 tenths of a second; $4 names it.
stop_tracked() {
  local pid
  pid=$(tracked_pid "$1" "$2")
  if [[ -z $pid ]]; then
    rm -f "$1"
    return 0
  fi
  terminate "$pid" "$3"
  kill -0 "$pid" 2>/dev/null && die "$4 pid $pid still alive"
  rm -f "$1"
  log "$4 down (stopped pid $pid)"
}

stop_pid() {
  local pid=$1 kids i
  kids=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -s ' \n' ' ' || true)
  terminate "$pid" 50
  # workers of that master only (they normally exit with it)
  for k in $kids; do
    for ((i = 0; i < 20; i++)); do kill -0 "$k" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$k" 2>/dev/null || true
  done
}

# PID of our running moto_server, or empty.
moto_pid() { tracked_pid "$MOTO_PIDFILE" moto_server; }

moto_ready() {
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$COGNITO_PORT/moto-api/" 2>/dev/null
}

# Starts moto (if ours is not running) and provisions it; writes users.json and
# the [cognito] section of config.toml. Returns when moto answers.
cognito_up() {
  check_port "$COGNITO_PORT" COGNITO_PORT
  [[ -x $VENV/bin/moto_server ]] || die "$VENV/bin/moto_server missing (run scripts/deps.sh)"
  local pid fresh=0
  pid=$(moto_pid)
  if [[ -z $pid ]]; then
    rm -f "$MOTO_PIDFILE"
    mkdir -p "$MOTO_DIR"
    # stdio to a file so callers capturing our output are not held open by moto
    MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true \
      nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$COGNITO_PORT" </dev/null >>"$MOTO_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$MOTO_PIDFILE"
    fresh=1
    local deadline=$((SECONDS + READY_TIMEOUT + 10))
    until moto_ready; do
      if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
        echo "--- tail of $MOTO_LOG ---" >&2
        tail -n 20 "$MOTO_LOG" >&2 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
        rm -f "$MOTO_PIDFILE"
        die "Cognito endpoint (moto) not ready on port $COGNITO_PORT"
      fi
      sleep 0.1
    done
  fi
  if ((fresh)) || [[ ! -f $STACK_DIR/users.json ]] || ! grep -q '^\[cognito\]' "$STACK_DIR/config.toml" 2>/dev/null; then
    "$VENV/bin/python" "$REPO/scripts/provision_cognito.py" --endpoint "http://127.0.0.1:$COGNITO_PORT" --stack-dir "$STACK_DIR" >/dev/null ||
      die "provisioning the Cognito endpoint failed"
  fi
  log "cognito http://127.0.0.1:$COGNITO_PORT (moto pid $pid; users in $STACK_DIR/users.json)"
}

cognito_down() { stop_tracked "$MOTO_PIDFILE" moto_server 50 cognito; }

# PID of our running mentorcast-server, or empty.
server_pid() { tracked_pid "$SERVER_PIDFILE" mentorcast-server; }

server_ready() {
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$SERVER_PORT/healthz" 2>/dev/null
}

# A TOML basic string (backslashes and quotes escaped).
toml_str() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# server.toml: everything from this stack, plus the [cognito] section of config.toml.
write_server_conf() {
  local secret signing cognito
  secret=$(tr -dc '0-9a-f' <"$HOOK_SECRET_FILE")
  signing=$(openssl rand -hex 32)
  cognito=$(sed -n '/^\[cognito\]/,$p' "$STACK_DIR/config.toml")
  [[ -n $cognito ]] || die "no [cognito] section in $STACK_DIR/config.toml for the backend"
  (umask 077; cat >"$SERVER_CONF.tmp" <<EOF
# written by scripts/stack.sh up -- mentorcast-server's config
listen = "127.0.0.1:$SERVER_PORT"
public_url = "http://127.0.0.1:$SERVER_PORT"
database_url = $(toml_str "sqlite://$SERVER_DIR/mentorcast.db")
data_dir = $(toml_str "$SERVER_DIR/data")
hlsjs_path = $(toml_str "$REPO/crates/server/web/node_modules/hls.js/dist/hls.min.js")

[ingest]
rtmp_url = "rtmp://127.0.0.1:$RTMP_PORT"
rtmps_url = "rtmps://localhost:$RTMPS_PORT"
hls_url = "http://127.0.0.1:$HTTP_PORT/channels"
stat_url = "http://127.0.0.1:$HTTP_PORT/stat"
apps_file = $(toml_str "$APPS_FILE")
app_template_file = $(toml_str "$APP_TEMPLATE")
record_dir = $(toml_str "$CH_RECORD_DIR")
reload_command = [$(toml_str "$REPO/scripts/stack.sh"), "reload", $(toml_str "$STACK_DIR")]

[hooks]
secret = "$secret"
loopback_only = true

[media]
signing_key = "$signing"
url_ttl_s = 3600

$cognito
EOF
  )
  mv -f "$SERVER_CONF.tmp" "$SERVER_CONF"
}

# Starts mentorcast-server (if ours is not running); returns when it answers /healthz.
server_up() {
  check_port "$SERVER_PORT" SERVER_PORT
  local pid
  pid=$(server_pid)
  if [[ -n $pid ]]; then
    log "backend http://127.0.0.1:$SERVER_PORT (already up, pid $pid)"
    return 0
  fi
  rm -f "$SERVER_PIDFILE"
  if [[ ! -x $SERVER_BIN ]]; then
    log "building mentorcast-server (release)"
    (cd "$REPO" && cargo build --release --locked -p mentorcast-server >/dev/null 2>&1) ||
      die "building mentorcast-server failed (cargo build --release -p mentorcast-server)"
  fi
  mkdir -p "$SERVER_DIR"
  [[ -s $HOOK_SECRET_FILE ]] || die "$HOOK_SECRET_FILE missing (stack.sh down, then up)"
  write_server_conf
  # stdio to a file so callers capturing our output are not held open by the server
  MENTORCAST_LOG=${MENTORCAST_SERVER_LOG:-info} \
    nohup "$SERVER_BIN" --config "$SERVER_CONF" </dev/null >>"$SERVER_LOG" 2>&1 &
  pid=$!
  echo "$pid" >"$SERVER_PIDFILE"
  local deadline=$((SECONDS + READY_TIMEOUT + 10))
  until server_ready; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      echo "--- tail of $SERVER_LOG ---" >&2
      tail -n 20 "$SERVER_LOG" >&2 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
      rm -f "$SERVER_PIDFILE"
      die "mentorcast-server not ready on port $SERVER_PORT"
    fi
    sleep 0.1
  done
  log "backend http://127.0.0.1:$SERVER_PORT (mentorcast-server pid $pid; log $SERVER_LOG)"
}

server_down() { stop_tracked "$SERVER_PIDFILE" mentorcast-server 100 backend; }

cmd_up() {
  check_port "$RTMP_PORT" RTMP_PORT
  check_port "$RTMPS_PORT" RTMPS_PORT
  check_port "$HTTP_PORT" HTTP_PORT
  check_port "$SERVER_PORT" SERVER_PORT
  [[ -x $NGINX_BIN ]] || die "nginx not found (run scripts/deps.sh)"
  for m in ngx_rtmp_module.so ngx_stream_module.so; do
    [[ -f $MODDIR/$m ]] || die "$MODDIR/$m missing (run scripts/deps.sh)"
  done

  local pid
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    log "already up (pid $pid, $STACK_DIR)"
    [[ -f $STACK_DIR/config.toml ]] || write_cli_config
    if [[ $STACK_COGNITO != 0 ]]; then cognito_up; server_up; fi
    wait_settled "$pid" "$READY_TIMEOUT" || die "nginx (pid $pid) still has workers of an older configuration"
    return 0
  fi
  rm -f "$PIDFILE"

  mkdir -p "$NGX_DIR/tmp" "$LOGDIR" "$RECORD_DIR" "$HLS_DIR" "$CH_RECORD_DIR" "$CH_HLS_DIR" "$SERVER_DIR"
  chmod 700 "$SERVER_DIR"
  gen_tls
  local key secret
  key="good-key-$(openssl rand -hex 8)"
  printf '%s\n' "$key" >"$KEYFILE"
  # The hook secret: in the hook URLs nginx calls and in server.toml (all 0600).
  secret=$(openssl rand -hex 24)
  (umask 077; printf '%s\n' "$secret" >"$HOOK_SECRET_FILE")
  write_conf "$key" "$secret"
  chmod 600 "$CONF"
  write_app_template "$secret"
  # The backend rewrites this with every channel when it starts.
  (umask 077; echo "# channel applications: written by mentorcast-server" >"$APPS_FILE")

  local out
  if ! out=$("$NGINX_BIN" -t -q -p "$NGX_DIR" -e "$ERRLOG" -c "$CONF" 2>&1 </dev/null); then
    echo "$out" >&2
    die "nginx rejected $CONF"
  fi
  # -e: nginx's compiled-in error log (/var/log/nginx) is never touched.
  # stdio to files so callers capturing our output are not held open by nginx.
  "$NGINX_BIN" -p "$NGX_DIR" -e "$ERRLOG" -c "$CONF" </dev/null >>"$LOGDIR/stdout.log" 2>&1 || {
    echo "--- tail of $ERRLOG ---" >&2
    tail -n 20 "$ERRLOG" >&2 2>/dev/null || true
    rm -f "$PIDFILE" # nginx leaves an empty one behind when bind() fails
    die "nginx failed to start (ports rtmp=$RTMP_PORT rtmps=$RTMPS_PORT http=$HTTP_PORT)"
  }

  local deadline=$((SECONDS + READY_TIMEOUT)) raw
  until is_ready; do
    pid=$(running_pid)
    # the pid file is empty until the daemonized master fills it in
    raw=$(tr -dc '0-9' <"$PIDFILE" 2>/dev/null || true)
    if [[ -z $pid && -n $raw ]] || ((SECONDS >= deadline)); then
      echo "--- tail of $ERRLOG ---" >&2
      tail -n 20 "$ERRLOG" >&2 2>/dev/null || true
      [[ -n $pid ]] && stop_pid "$pid"
      rm -f "$PIDFILE"
      die "stack not ready after ${READY_TIMEOUT}s (ports rtmp=$RTMP_PORT rtmps=$RTMPS_PORT http=$HTTP_PORT)"
    fi
    sleep 0.1
  done
  pid=$(running_pid)
  [[ -n $pid ]] || die "nginx answered but no pid in $PIDFILE (another server on these ports?)"
  write_cli_config
  if [[ $STACK_COGNITO != 0 ]]; then cognito_up; server_up; fi
  # Ready for a subscriber: one generation of workers (the backend reloads nginx when
  # the channel applications it renders differ from the file, and waits for it).
  wait_settled "$pid" "$READY_TIMEOUT" || die "nginx (pid $pid) still has workers of an older configuration"

  log "up (nginx pid $pid) in $STACK_DIR"
  log "  rtmp   rtmp://127.0.0.1:$RTMP_PORT/live  (record -> $RECORD_DIR)"
  log "  rtmps  rtmps://localhost:$RTMPS_PORT/live  (CA $TLS_DIR/ca.pem)"
  log "  http   http://127.0.0.1:$HTTP_PORT/{healthz,stat,hls/,channels/}"
  log "  config $STACK_DIR/config.toml"
}

# nginx re-reads its config (the channel applications changed). `nginx -s reload` only
# signals the master: until the master has started the new workers and told the old
# ones to quit, a connection can land in an old worker, which then keeps it (a
# subscriber there never meets a publisher that lands in the new one). So this returns
# only once a worker of the new configuration runs and every older one is shutting down.
cmd_reload() {
  local pid before out w deadline=$((SECONDS + READY_TIMEOUT))
  pid=$(running_pid)
  [[ -n $pid ]] || die "nginx is not running ($STACK_DIR)"
  if ! out=$("$NGINX_BIN" -t -q -p "$NGX_DIR" -e "$ERRLOG" -c "$CONF" 2>&1 </dev/null); then
    echo "$out" >&2
    die "nginx rejected $CONF; still serving the previous configuration"
  fi
  before=" $(workers_of "$pid" | awk '{print $1}' | tr '\n' ' ') "
  "$NGINX_BIN" -p "$NGX_DIR" -e "$ERRLOG" -c "$CONF" -s reload </dev/null >>"$LOGDIR/stdout.log" 2>&1 ||
    die "nginx -s reload failed (log: $ERRLOG)"
  while :; do
    local fresh=0 stale=0
    while read -r w title; do
      [[ -n $w ]] || continue
      if [[ $before == *" $w "* ]]; then
        [[ $title == *"shutting down"* ]] || stale=$((stale + 1))
      elif [[ $title != *"shutting down"* ]]; then
        fresh=$((fresh + 1))
      fi
    done < <(workers_of "$pid")
    ((fresh >= 1 && stale == 0)) && return 0
    if ((SECONDS >= deadline)); then
      tail -n 5 "$ERRLOG" >&2 2>/dev/null || true
      die "nginx did not switch to the new configuration within ${READY_TIMEOUT}s"
    fi
    sleep 0.05
  done
}

cmd_down() {
  local pid
  server_down
  if [[ $STACK_COGNITO != 0 ]]; then cognito_down; fi
  pid=$(running_pid)
  if [[ -z $pid ]]; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  stop_pid "$pid"
  if kill -0 "$pid" 2>/dev/null; then
    die "nginx pid $pid still alive"
  fi
  rm -f "$PIDFILE"
  log "down (stopped pid $pid)"
}

cmd_status() {
  local pid mpid spid
  spid=$(server_pid)
  if [[ -n $spid ]]; then
    log "backend up (mentorcast-server pid $spid, http://127.0.0.1:$SERVER_PORT)"
  elif [[ $STACK_COGNITO != 0 ]]; then
    log "backend down"
  fi
  mpid=$(moto_pid)
  if [[ -n $mpid ]]; then
    log "cognito up (moto pid $mpid, http://127.0.0.1:$COGNITO_PORT)"
  elif [[ $STACK_COGNITO != 0 ]]; then
    log "cognito down"
  fi
  pid=$(running_pid)
  if [[ -n $pid ]]; then
    if is_ready; then
      log "up (pid $pid, $STACK_DIR, rtmp=$RTMP_PORT rtmps=$RTMPS_PORT http=$HTTP_PORT)"
    else
      log "up (pid $pid, $STACK_DIR) but not answering on rtmp=$RTMP_PORT rtmps=$RTMPS_PORT http=$HTTP_PORT"
    fi
    return 0
  fi
  log "down ($STACK_DIR)"
  return 3
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  cognito-up) cognito_up ;;
  cognito-down) cognito_down ;;
  reload) cmd_reload ;;
  *) echo "usage: $0 up|down|status|reload [STACK_DIR]|cognito-up|cognito-down" >&2; exit 2 ;;
esac
