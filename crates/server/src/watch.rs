//! The watch page: `GET /watch/{app}` plays the channel's live HLS with
//! hls.js (served by us at `GET /assets/hls.min.js` from `hlsjs_path`, the npm
//! package installed by scripts/deps.sh; no CDN) and sends a heartbeat every
//! `heartbeat_interval_ms` while the video plays: a random playerId per page
//! load, `playTime` = the video's current time, `bitrate` = the playing
//! level's bitrate (or, for a single media playlist without one, the measured
//! bitrate of the last fragment), and the agent (OS, browser, device class)
//! parsed from `navigator.userAgent`.
//!
//! Anonymous by default; a signed-in viewer can pass a Cognito token in the
//! URL fragment (`/watch/room-x#token=…`: fragments never reach a server or
//! its logs) and is then counted as a participant and held to the device limit.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiErr, ApiResult};
use crate::AppState;

/// The page for one channel.
#[utoipa::path(
    get,
    path = "/watch/{app}",
    tag = "viewers",
    params(("app" = String, Path, description = "The channel's app name")),
    responses(
        (
            status = 200,
            description = "HTML page playing the live stream and sending heartbeats",
            content_type = "text/html"
        ),
        (status = 404, description = "No channel with that app", body = mentorcast_api::ErrorBody),
    )
)]
pub async fn watch_page(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Html<String>> {
    crate::viewers::require_channel(&state, &app).await?;
    let hls_url = format!(
        "{}/{}.m3u8",
        state.config.ingest.hls_url.trim_end_matches('/'),
        mentorcast_api::client::urlencode(&app)
    );
    let cfg = serde_json::json!({
        "app": app,
        "hls_url": hls_url,
        "heartbeat_url": "/api/v1/heartbeat",
        "interval_ms": state.config.viewers.heartbeat_interval_ms,
    });
    // JSON inside <script>: `<` escaped so no `</script>` can close it.
    let cfg = cfg.to_string().replace('<', "\\u003c");
    Ok(Html(PAGE.replace("{{TITLE}}", &html_escape(&app)).replace("{{CONFIG}}", &cfg)))
}

/// hls.js, from the npm package (no CDN).
#[utoipa::path(
    get,
    path = "/assets/hls.min.js",
    tag = "viewers",
    responses(
        (status = 200, description = "hls.js", content_type = "application/javascript"),
        (status = 404, description = "hls.js is not installed on this server", body = mentorcast_api::ErrorBody),
    )
)]
pub async fn hlsjs(State(state): State<AppState>) -> ApiResult<Response> {
    let Some(path) = &state.config.hlsjs_path else {
        return Err(ApiErr::NotFound("hls.js is not configured on this server (hlsjs_path)".into()));
    };
    match tokio::fs::read(path).await {
        Ok(body) => Ok((
            [
                (header::CONTENT_TYPE, "application/javascript; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            body,
        )
            .into_response()),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "hls.js not readable");
            Err(ApiErr::NotFound("hls.js is not installed on this server (run scripts/deps.sh)".into()))
        }
    }
}

/// The watch page and hls.js.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(watch_page)).routes(routes!(hlsjs))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}} · Mentorcast</title>
<style>
  body { margin: 0; background: #111; color: #eee; font: 15px/1.4 system-ui, sans-serif; }
  main { max-width: 1100px; margin: 0 auto; padding: 16px; }
  h1 { font-size: 18px; font-weight: 600; margin: 0 0 12px; }
  video { width: 100%; aspect-ratio: 16 / 9; background: #000; }
  #bar { display: flex; justify-content: space-between; margin-top: 8px; color: #aaa; }
  #msg.err { color: #f88; }
</style>
</head>
<body>
<main>
  <h1>{{TITLE}}</h1>
  <video id="video" controls autoplay muted playsinline></video>
  <div id="bar"><span id="msg">connecting…</span><span id="viewers"></span></div>
</main>
<script id="cfg" type="application/json">{{CONFIG}}</script>
<script src="/assets/hls.min.js"></script>
<script>
"use strict";
(function () {
  const cfg = JSON.parse(document.getElementById("cfg").textContent);
  const video = document.getElementById("video");
  const msg = document.getElementById("msg");
  const viewersEl = document.getElementById("viewers");
  const rnd = new Uint8Array(16);
  crypto.getRandomValues(rnd);
  const playerId = Array.from(rnd, (b) => b.toString(16).padStart(2, "0")).join("");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");

  function parseAgent(ua) {
    let os = "other";
    if (/Windows/.test(ua)) os = "Windows";
    else if (/Android/.test(ua)) os = "Android";
    else if (/iPhone|iPad|iPod/.test(ua)) os = "iOS";
    else if (/CrOS/.test(ua)) os = "ChromeOS";
    else if (/Mac OS X|Macintosh/.test(ua)) os = "macOS";
    else if (/Linux/.test(ua)) os = "Linux";
    let browser = "other";
    if (/Edg\//.test(ua)) browser = "Edge";
    else if (/OPR\//.test(ua)) browser = "Opera";
    else if (/Firefox\//.test(ua)) browser = "Firefox";
    else if (/HeadlessChrome\//.test(ua)) browser = "Chrome Headless";
    else if (/Chrome\/|Chromium\//.test(ua)) browser = "Chrome";
    else if (/Safari\//.test(ua)) browser = "Safari";
    let device = "desktop";
    if (/iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua))) device = "tablet";
    else if (/Mobi|iPhone|iPod/.test(ua)) device = "mobile";
    return { os, browser, device };
  }
  const agent = parseAgent(navigator.userAgent);

  let hls = null;
  let fragKbps = 0;
  function say(text, err) {
    msg.textContent = text;
    msg.className = err ? "err" : "";
  }
  function start() {
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({ liveSyncDurationCount: 2, lowLatencyMode: false });
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        video.play().catch(() => say("press play to start", false));
      });
      hls.on(Hls.Events.FRAG_LOADED, (_e, d) => {
        const bytes = d.frag && d.frag.stats ? d.frag.stats.total || d.frag.stats.loaded : 0;
        if (bytes && d.frag.duration > 0) fragKbps = Math.round((bytes * 8) / d.frag.duration / 1000);
      });
      hls.on(Hls.Events.ERROR, (_e, d) => {
        if (!d.fatal) return;
        if (d.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
          return;
        }
        // Not live yet (playlist 404) or the ingest went away: try again shortly.
        say("waiting for the stream…", false);
        hls.destroy();
        hls = null;
        setTimeout(start, 2000);
      });
      hls.loadSource(cfg.hls_url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = cfg.hls_url;
    } else {
      say("this browser cannot play HLS", true);
    }
  }
  function bitrate() {
    if (hls && hls.levels && hls.currentLevel >= 0 && hls.levels[hls.currentLevel]) {
      const b = hls.levels[hls.currentLevel].bitrate;
      if (b > 0) return Math.round(b / 1000);
    }
    return fragKbps;
  }
  function playing() {
    return !video.paused && !video.ended && video.readyState >= 2 && video.currentTime > 0;
  }

  const state = { playerId, agent, beats: 0, lastAck: null, lastError: null };
  window.mentorcast = state;
  let inFlight = false;
  let interval = cfg.interval_ms;
  async function beat() {
    if (inFlight || !playing()) return;
    inFlight = true;
    const body = { playerId, app: cfg.app, bitrate: bitrate(), playTime: video.currentTime, agent };
    const headers = { "Content-Type": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    try {
      const r = await fetch(cfg.heartbeat_url, {
        method: "POST", headers, body: JSON.stringify(body), keepalive: true,
      });
      const j = await r.json().catch(() => ({}));
      if (r.ok) {
        state.beats++;
        state.lastAck = j;
        state.lastError = null;
        viewersEl.textContent = j.active === 1 ? "1 watching" : j.active + " watching";
        say("live", false);
        if (j.interval_ms && j.interval_ms !== interval) {
          interval = j.interval_ms;
          clearInterval(timer);
          timer = setInterval(beat, interval);
        }
      } else {
        state.lastError = j.message || "HTTP " + r.status;
        say(state.lastError, true);
      }
    } catch (e) {
      state.lastError = String(e);
    } finally {
      inFlight = false;
    }
  }
  let timer = setInterval(beat, interval);
  video.addEventListener("playing", () => { say("live", false); beat(); });
  start();
})();
</script>
</body>
</html>
"#;
