// The Studio: preview, mic meter, broadcast status and health, sources and quality (with
// the connection test and its recommendation), the channel and its key, Go Live / End.
import { call, errorOf } from "../api";
import { BITRATE_LIMITS } from "../bindings";
import type { BroadcastStatus, ChannelView, ConnectionReport, Level, MicLevel, PresetId, ViewerCountView } from "../bindings";
import { drawChart } from "../chart";
import type { Ctx, Mounted } from "../context";
import { clear, h, setClass, setText } from "../dom";
import { phaseOf, sourcesReady } from "../store";
import type { AppState, Loadable, StudioState } from "../store";
import { PRESET_LIST, badge, broadcastActive, buttonMode, formatKbps, levelClass, mainButton, meterClass, meterFraction, num, presetById, viewersText } from "../state";

const READY_TITLE = "Ready";
const READY_DETAIL = "Choose your camera and microphone, then Go Live.";

export function mountStudio(root: HTMLElement, ctx: Ctx): Mounted {
  const { store, api, preview } = ctx;
  let mounted = true;

  // ---------- the page ----------
  const img = h("img", { class: "preview", alt: "Camera preview", "data-testid": "preview" });
  const badgeEl = h("span", { class: "badge badge-idle", "data-testid": "badge" }, "PREVIEW");
  const viewersActive = h("span", { class: "viewers-active", "data-testid": "viewers-active" }, "0");
  const viewersPeak = h("span", { "data-testid": "viewers-peak" }, "0");
  const viewersBox = h(
    "div",
    { class: "viewers", title: "Viewers watching now (peak this session)", "data-testid": "viewers" },
    h("span", { class: "eye" }, "●"),
    viewersActive,
    h("span", { class: "muted" }, " watching · peak "),
    viewersPeak,
  );
  const meterFill = h("div", { class: "meter-fill meter-silent", "data-testid": "meter-fill" });
  const statusTitle = h("h2", { "data-testid": "status-title" }, READY_TITLE);
  const statusDetail = h("p", { class: "muted", "data-testid": "status-detail" }, READY_DETAIL);
  const slowNotice = h("p", { class: "notice warning", role: "status", hidden: true, "data-testid": "slow-notice" });
  const statusBox = h("div", { class: "status card", "data-testid": "status" }, statusTitle, statusDetail, slowNotice);
  const figure = (testid: string) => h("strong", { class: "level-none", "data-testid": testid }, "–");
  const fpsEl = figure("health-fps"), kbpsEl = figure("health-bitrate"), droppedEl = figure("health-dropped"), delayEl = figure("health-delay");
  const chart = h("canvas", { width: 600, height: 90, "aria-label": "Video bitrate over the last minutes", "data-testid": "chart" });

  const camera = h("select", { "aria-label": "Camera", "data-testid": "camera" });
  const mic = h("select", { "aria-label": "Microphone", "data-testid": "microphone" });
  const preset = h("select", { "aria-label": "Quality", "data-testid": "preset" });
  for (const p of PRESET_LIST) preset.append(h("option", { value: p.id }, p.label));
  const bitrate = h("input", {
    type: "number",
    min: BITRATE_LIMITS.min_video_kbps,
    max: BITRATE_LIMITS.max_video_kbps,
    step: 100,
    "aria-label": "Video bitrate (kbps)",
    "data-testid": "bitrate",
  });
  const hint = h("p", { class: "hint", "data-testid": "source-hint" });
  const channelBox = h("div", { class: "channel", "data-testid": "channel" });
  const goLive = h("button", { class: "primary big", disabled: true, "data-testid": "go-live" }, "Go Live");
  const testBtn = h("button", { class: "ghost small", "data-testid": "test-connection", onclick: () => void testConnection() }, "Test connection");
  const testResult = h("p", { class: "hint", role: "status", "data-testid": "connection-result" });
  const applyBtn = h("button", { class: "ghost small", hidden: true, "data-testid": "apply-recommendation", onclick: () => store.dispatch({ type: "conntest/applied" }) }, "Use this");

  const field = (label: string, input: HTMLElement) => h("label", { class: "field" }, h("span", {}, label), input);
  const statBox = (label: string, el: HTMLElement) => h("div", { class: "stat" }, h("span", { class: "muted" }, label), el);

  clear(
    root,
    h(
      "div",
      { class: "studio", "data-testid": "screen-studio" },
      h(
        "section",
        { class: "stage" },
        h("div", { class: "preview-box" }, img, badgeEl, viewersBox),
        h("div", { class: "meter-row" }, h("span", { class: "muted" }, "Mic"), h("div", { class: "meter", role: "meter", "aria-label": "Microphone level", "data-testid": "meter" }, meterFill)),
        statusBox,
        h("div", { class: "health card", "data-testid": "health" }, statBox("FPS", fpsEl), statBox("Bitrate", kbpsEl), statBox("Dropped", droppedEl), statBox("Delay", delayEl), chart),
      ),
      h(
        "aside",
        { class: "controls" },
        // Go Live first: the cards below change height as they load, the button never moves
        goLive,
        h("p", { class: "hint" }, "Shortcuts: Ctrl+L goes live, Ctrl+E ends."),
        h("div", { class: "card" }, h("h3", {}, "Sources"), field("Camera", camera), field("Microphone", mic), hint),
        h("div", { class: "card" }, h("h3", {}, "Quality"), field("Preset", preset), field("Video bitrate (kbps)", bitrate), h("div", { class: "row" }, testBtn, applyBtn), testResult),
        h("div", { class: "card" }, h("h3", {}, "Channel"), channelBox),
      ),
    ),
  );

  // ---------- rendering (each part only when its slice of the state changed) ----------
  /** Status, badge, main button and whether the pickers can change: once a second while live,
   * so only what changed is written (each write is a repaint). */
  const renderControls = (s: AppState) => {
    const st = s.broadcast.status, refused = s.broadcast.goLiveError;
    const phase = phaseOf(s);
    setText(statusTitle, refused !== null ? "Cannot go live" : (st?.title ?? READY_TITLE));
    setText(statusDetail, refused ?? st?.detail ?? READY_DETAIL);
    setClass(statusBox, refused !== null ? "status card status-failed" : `status card status-${phase}`);
    const b = badge(st ?? { state: phase, elapsed_text: "" });
    setText(badgeEl, b.text);
    setClass(badgeEl, `badge ${b.cls}`);
    const btn = mainButton(phase);
    setText(goLive, btn.text);
    setClass(goLive, btn.cls);
    const off = btn.mode === "busy" || (btn.mode === "go-live" && !sourcesReady(s));
    if (goLive.disabled !== off) goLive.disabled = off;
    const fixed = btn.mode !== "go-live";
    for (const el of [camera, mic, preset, bitrate]) if (el.disabled !== fixed) el.disabled = fixed;
  };

  const setStat = (el: HTMLElement, text: string, level: Level | null) => {
    setText(el, text);
    setClass(el, levelClass(level));
  };
  const renderHealth = (st: BroadcastStatus) => {
    const hh = st.health;
    const live = st.state === "live";
    setStat(fpsEl, hh.target_fps ? `${num(hh.fps).toFixed(1)} / ${hh.target_fps}` : "–", hh.fps_level);
    setStat(kbpsEl, live ? formatKbps(num(hh.video_kbps) + num(hh.audio_kbps)) : "–", null);
    setStat(droppedEl, `${hh.frames_dropped} (${num(hh.dropped_pct).toFixed(1)} %)`, hh.dropped_level);
    setStat(delayEl, live ? `${Math.round(num(hh.queue_delay_ms))} ms` : "–", null);
    drawChart(chart, hh.bitrate_history.map(num), hh.target_kbps, hh.encoder_history.map(num));
    setText(slowNotice, hh.slow_notice ?? "");
    if (slowNotice.hidden !== !hh.slow_notice) slowNotice.hidden = !hh.slow_notice;
  };

  const renderViewers = (v: ViewerCountView) => {
    setText(viewersActive, String(v.active));
    setText(viewersPeak, String(v.peak));
    viewersBox.classList.toggle("stale", !v.connected);
    viewersBox.setAttribute("aria-label", viewersText(v.active, v.peak));
  };

  /** 10 times a second: a transform (no layout) and the class only when it changes. */
  const renderMeter = (m: MicLevel | null) => {
    meterFill.style.transform = `scaleX(${meterFraction(m?.peak_dbfs ?? null).toFixed(2)})`;
    setClass(meterFill, `meter-fill ${m ? meterClass(m) : "meter-silent"}`);
  };

  let shownDevices: StudioState["devices"] | null = null;
  const renderForm = (st: StudioState) => {
    if (st.devices !== shownDevices) {
      shownDevices = st.devices;
      const d = st.devices.status === "ready" ? st.devices.data : { cameras: [], microphones: [] };
      clear(camera, ...d.cameras.map((o) => h("option", { value: o.id }, o.label)));
      clear(mic, ...d.microphones.map((o) => h("option", { value: o.id }, o.label)));
    }
    if (camera.value !== (st.form.camera ?? "")) camera.value = st.form.camera ?? "";
    if (mic.value !== (st.form.microphone ?? "")) mic.value = st.form.microphone ?? "";
    if (preset.value !== st.form.preset) preset.value = st.form.preset;
    // while typing, "" and "0" both read 0: the field is rewritten only when it means another number
    if (Number(bitrate.value) !== st.form.videoKbps) bitrate.value = String(st.form.videoKbps);
  };

  let shownChannel: Loadable<ChannelView> | null = null;
  let keyEl: HTMLElement | null = null, revealBtn: HTMLElement | null = null;
  const renderChannel = (st: StudioState) => {
    if (st.channel !== shownChannel) {
      shownChannel = st.channel;
      keyEl = revealBtn = null;
      const c = st.channel;
      switch (c.status) {
        case "idle":
        case "loading":
          clear(channelBox, h("p", { class: "muted" }, "Loading your channel…"));
          break;
        case "error":
          clear(channelBox, h("p", { class: "error", "data-testid": "channel-error" }, c.message));
          break;
        case "ready":
          keyEl = h("code", { class: "key", "data-testid": "stream-key" }, c.data.key_masked);
          revealBtn = h("button", { class: "ghost small", "data-testid": "reveal-key", onclick: () => void toggleKey() }, "Reveal");
          clear(
            channelBox,
            h("div", { class: "kv" }, h("span", { class: "muted" }, "Room"), h("strong", { "data-testid": "channel-app" }, c.data.app)),
            h("div", { class: "kv" }, h("span", { class: "muted" }, "Ingest"), h("code", { "data-testid": "channel-ingest" }, c.data.ingest_url)),
            h("div", { class: "kv" }, h("span", { class: "muted" }, "Key"), keyEl),
            h(
              "div",
              { class: "row" },
              revealBtn,
              h("button", { class: "ghost small", "data-testid": "copy-key", onclick: () => void copyKey() }, "Copy"),
              h("button", { class: "ghost small", "data-testid": "new-key", onclick: () => void rotateKey() }, "New key"),
            ),
          );
          break;
      }
    }
    if (st.channel.status === "ready") {
      setText(keyEl, st.revealedKey ?? st.channel.data.key_masked);
      setText(revealBtn, st.revealedKey !== null ? "Hide" : "Reveal");
    }
  };

  const renderTest = (t: Loadable<ConnectionReport>, busy: boolean) => {
    const best = t.status === "ready" ? t.data.recommendations[0] : undefined;
    setText(testResult, connectionText(t));
    setClass(testResult, t.status === "error" ? "hint error" : "hint");
    setText(testBtn, t.status === "loading" ? "Testing…" : "Test connection");
    const off = busy || t.status === "loading";
    if (testBtn.disabled !== off) testBtn.disabled = off;
    if (applyBtn.hidden !== (!best || busy)) applyBtn.hidden = !best || busy;
  };

  const render = (s: AppState, prev: AppState | null) => {
    const b = s.broadcast, st = s.studio;
    if (!prev || b.status !== prev.broadcast.status || b.goLiveError !== prev.broadcast.goLiveError || st.devices !== prev.studio.devices || st.form !== prev.studio.form) renderControls(s);
    if (b.status && (!prev || b.status !== prev.broadcast.status)) renderHealth(b.status);
    if (!prev || b.viewers !== prev.broadcast.viewers) renderViewers(b.viewers);
    if (!prev || b.mic !== prev.broadcast.mic) renderMeter(b.mic);
    if (!prev || st.devices !== prev.studio.devices || st.form !== prev.studio.form) renderForm(st);
    if (!prev || st.hint !== prev.studio.hint) setText(hint, st.hint);
    const busy = buttonMode(phaseOf(s)) !== "go-live";
    if (!prev || st.connectionTest !== prev.studio.connectionTest || busy !== (buttonMode(phaseOf(prev)) !== "go-live")) renderTest(st.connectionTest, busy);
    if (!prev || st.channel !== prev.studio.channel || st.revealedKey !== prev.studio.revealedKey) renderChannel(st);
  };

  // ---------- actions ----------
  const restartPreview = () =>
    ctx.previewJobs.run(async () => {
      const s = store.get();
      if (!mounted || broadcastActive(phaseOf(s))) return;
      const f = s.studio.form;
      if (f.camera === null || f.microphone === null) return; // no sources (the hint says why)
      try {
        await call(api.startPreview(f.camera, f.microphone, f.preset));
        store.dispatch({ type: "preview/started" });
      } catch (e) {
        store.dispatch({ type: "preview/failed", message: errorOf(e) });
      }
    });

  /** The preview <img> shows the app's MJPEG stream (one request; WebKit decodes each frame as it comes). */
  const attachPreview = async () => {
    try {
      await preview.attach(img);
    } catch (e) {
      store.dispatch({ type: "preview/failed", message: errorOf(e) });
    }
  };
  img.onload = () => img.classList.add("has-frame");

  const toggleLive = async () => {
    const s = store.get();
    const mode = buttonMode(phaseOf(s));
    if (mode === "busy" || (mode === "go-live" && !sourcesReady(s))) return;
    if (mode === "end") {
      const ask = phaseOf(s) === "reconnecting"
        ? (["Stop trying to reconnect?", "The class ends here. What was broadcast so far appears in Recordings shortly.", "Stop trying"] as const)
        : (["End the class?", "Viewers will see the stream stop. The recording appears in Recordings shortly.", "End broadcast"] as const);
      if (await ctx.confirm(ask[0], ask[1], ask[2], "confirm-end")) {
        try {
          await call(api.endLive());
        } catch (e) {
          ctx.toast(errorOf(e));
        }
      }
      return;
    }
    const f = s.studio.form;
    store.dispatch({ type: "golive/requested" });
    try {
      await call(api.goLive({ camera: f.camera ?? "", microphone: f.microphone ?? "", preset: f.preset, video_kbps: f.videoKbps }));
    } catch (e) {
      store.dispatch({ type: "golive/failed", message: errorOf(e) });
    }
  };

  const testConnection = async () => {
    if (store.get().studio.connectionTest.status === "loading") return;
    store.dispatch({ type: "conntest/started" });
    try {
      const report = await call(api.testConnection());
      if (mounted) store.dispatch({ type: "conntest/done", report });
    } catch (e) {
      if (mounted) store.dispatch({ type: "conntest/failed", message: errorOf(e) });
    }
  };

  const toggleKey = async () => {
    if (store.get().studio.revealedKey !== null) return store.dispatch({ type: "key/hidden" });
    try {
      store.dispatch({ type: "key/revealed", key: await call(api.revealKey()) });
    } catch (e) {
      ctx.toast(errorOf(e));
    }
  };
  const copyKey = async () => {
    try {
      await ctx.copyText(await call(api.revealKey()));
      ctx.toast("Stream key copied. Keep it secret: anyone with it can broadcast as you.");
    } catch (e) {
      ctx.toast(errorOf(e));
    }
  };
  const rotateKey = async () => {
    if (!(await ctx.confirm("Issue a new stream key?", "The current key stops working at once (other apps or OBS using it will be refused).", "Issue new key"))) return;
    try {
      store.dispatch({ type: "channel/loaded", channel: await call(api.rotateKey()) });
      ctx.toast("New stream key issued.");
    } catch (e) {
      ctx.toast(errorOf(e));
    }
  };

  camera.onchange = () => {
    store.dispatch({ type: "sources/selected", camera: camera.value });
    void restartPreview();
  };
  mic.onchange = () => {
    store.dispatch({ type: "sources/selected", microphone: mic.value });
    void restartPreview();
  };
  preset.onchange = () => {
    store.dispatch({ type: "preset/selected", preset: preset.value as PresetId });
    void restartPreview();
  };
  bitrate.oninput = () => store.dispatch({ type: "bitrate/changed", kbps: Number(bitrate.value) });
  goLive.onclick = () => void toggleLive();

  const onKey = (e: KeyboardEvent) => {
    if (!e.ctrlKey) return;
    const mode = buttonMode(phaseOf(store.get()));
    if ((e.key === "l" || e.key === "L") && mode === "go-live") {
      e.preventDefault();
      void toggleLive();
    } else if ((e.key === "e" || e.key === "E") && mode === "end") {
      e.preventDefault();
      void toggleLive();
    }
  };
  // A hidden window (minimised, another desktop) ends the preview stream: the app then scales
  // and encodes no preview frame at all; showing the window again reopens it.
  const onVisibility = () => {
    if (document.hidden) void preview.release(img).catch(() => undefined);
    else void attachPreview();
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("visibilitychange", onVisibility);

  store.dispatch({ type: "channel/loading" }); // each visit fetches the channel again, the key masked
  render(store.get(), null);
  const off = store.subscribe((s, prev) => {
    render(s, prev);
    // back to the preview once a broadcast is over (only on that change: not on every repaint)
    const was = prev.broadcast.status?.state, now = s.broadcast.status?.state;
    if ((now === "ended" || now === "failed") && was !== undefined && was !== now) void restartPreview();
  });

  // ---------- loading ----------
  void attachPreview();
  const devices = store.get().studio.devices;
  const loaded: Promise<unknown> =
    devices.status === "ready"
      ? Promise.resolve()
      : call(api.listDevices()).then(
          (d) => store.dispatch({ type: "devices/loaded", devices: d }),
          (e) => store.dispatch({ type: "devices/failed", message: errorOf(e) }),
        );
  void loaded.then(() => restartPreview());
  void call(api.getChannel()).then(
    (c) => mounted && store.dispatch({ type: "channel/loaded", channel: c }),
    (e) => mounted && store.dispatch({ type: "channel/failed", message: errorOf(e) }),
  );

  return {
    unmount() {
      mounted = false;
      off();
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("visibilitychange", onVisibility);
      // WebKit keeps reading the <img>'s stream after it leaves the page: the app ends it
      void preview.release(img).catch(() => undefined);
      if (!broadcastActive(phaseOf(store.get()))) void api.stopPreview();
    },
  };
}

/** What the connection test found, in a sentence (empty before it ran). */
export function connectionText(t: Loadable<ConnectionReport>): string {
  switch (t.status) {
    case "idle":
      return "";
    case "loading":
      return "Testing the connection to the ingest (up to 10 s; nothing goes on air)…";
    case "error":
      return t.message;
    case "ready": {
      const r = t.data, best = r.recommendations[0];
      const rtt = r.rtt_ms !== null ? `, round trip ${Math.round(r.rtt_ms)} ms` : "";
      const rec = best ? ` Recommended: ${presetById(best.preset).label} at ${formatKbps(best.video_kbps)}.` : "";
      return `Upload ${formatKbps(num(r.upload_kbps))}${rtt}.${rec}`;
    }
  }
}

