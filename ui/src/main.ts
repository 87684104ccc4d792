// Mentorcast's screens: Sign in, Studio, Recordings, Settings.
import { call, commands, events, CommandError } from "./api";
import type { BroadcastStatus, ChannelView, DeviceList, Me, Preset, RecordingView, SettingsView, AppInfo, ViewerCountView } from "./bindings";
import { h, clear, byId, setClass, setText } from "./dom";
import { PreviewLink } from "./preview";
import { num, badge, buttonMode, errorText, formatDate, formatDuration, formatElapsed, formatKbps, levelClass, meterClass, meterFraction, recordingSubtitle, viewForStep, viewersText } from "./state";
import { drawChart } from "./chart";
import { confirmDialog } from "./components";

const app = document.getElementById("app")!;

type Tab = "studio" | "recordings" | "settings";
const ui = {
  me: null as Me | null,
  tab: "studio" as Tab,
  status: null as BroadcastStatus | null,
  viewers: { active: 0, peak: 0, total: 0, connected: false } as ViewerCountView,
  channel: null as ChannelView | null,
  devices: null as DeviceList | null,
};

function errorOf(e: unknown): string {
  return e instanceof CommandError ? e.error.message : errorText(e);
}

/** Resolves after two animation frames: what is on screen is then painted (screenshots wait on this). */
export function painted(): Promise<void> {
  return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
}
(window as unknown as { mentorcastPainted: () => Promise<void> }).mentorcastPainted = painted;

// ---------- Sign in ----------
/** The sign-in form; `error` says why it is shown (a failure), `notice` what just happened (e.g. signed out). */
function signInScreen(error?: string, notice?: string): void {
  ui.me = null;
  const err = h("p", { id: "signin-error", class: "error", role: "alert" }, error ?? "");
  const note = h("p", { id: "signin-notice", class: "notice", role: "status" }, notice ?? "");
  const form = h("form", { id: "signin-form", class: "card signin" });
  const title = h("h1", {}, "Sign in to Mentorcast");
  const subtitle = h("p", { class: "muted" }, "Use your mentor account to broadcast your classes.");
  const busy = (on: boolean) => form.querySelectorAll("input,button").forEach((el) => ((el as HTMLInputElement).disabled = on));

  const credentials = () => {
    clear(
      form,
      title,
      subtitle,
      h("label", { for: "username" }, "Username"),
      h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true }),
      h("label", { for: "password" }, "Password"),
      h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true }),
      err,
      h("button", { id: "signin-submit", type: "submit", class: "primary" }, "Sign in"),
      note,
    );
    form.onsubmit = async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      note.textContent = "";
      busy(true);
      try {
        const u = (byId<HTMLInputElement>("username")!).value;
        const p = (byId<HTMLInputElement>("password")!).value;
        next(await call(commands.signIn(u, p)));
      } catch (e) {
        err.textContent = errorOf(e);
      } finally {
        busy(false);
      }
    };
  };
  // A challenge answered too late (or the app restarted): back to the credentials, saying why.
  const challengeFailed = (e: unknown) => {
    if (e instanceof CommandError && e.error.kind === "signed_out") {
      credentials();
      err.textContent = e.error.message;
    } else {
      err.textContent = errorOf(e);
    }
  };
  const back = () => h("button", { id: "signin-back", type: "button", class: "ghost", onclick: () => { err.textContent = ""; credentials(); } }, "Back");
  const next = (step: Parameters<typeof viewForStep>[0]) => {
    const v = viewForStep(step);
    if (step.step === "signed_in") return enter(step.me);
    err.textContent = "";
    if (v === "new-password" && step.step === "new_password_required") {
      clear(
        form,
        h("h1", {}, "Choose a new password"),
        h("p", { class: "muted" }, `Your account has a temporary password. ${step.rules}`),
        h("label", { for: "new-password" }, "New password"),
        h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true, autofocus: true }),
        h("label", { for: "new-password-again" }, "New password again"),
        h("input", { id: "new-password-again", type: "password", autocomplete: "new-password", required: true }),
        err,
        h("button", { id: "new-password-submit", type: "submit", class: "primary" }, "Set password and sign in"),
        back(),
      );
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        const a = byId<HTMLInputElement>("new-password")!.value, b = byId<HTMLInputElement>("new-password-again")!.value;
        if (a !== b) return void (err.textContent = "The two passwords differ.");
        busy(true);
        try {
          next(await call(commands.answerNewPassword(a)));
        } catch (e) {
          challengeFailed(e);
        } finally {
          busy(false);
        }
      };
    } else if (v === "mfa") {
      clear(
        form,
        h("h1", {}, "Two-step verification"),
        h("p", { class: "muted" }, "Enter the 6-digit code from your authenticator app."),
        h("label", { for: "mfa-code" }, "Code"),
        h("input", { id: "mfa-code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, required: true, autofocus: true }),
        err,
        h("button", { id: "mfa-submit", type: "submit", class: "primary" }, "Verify"),
        back(),
      );
      form.onsubmit = async (ev) => {
        ev.preventDefault();
        busy(true);
        try {
          next(await call(commands.answerMfa(byId<HTMLInputElement>("mfa-code")!.value)));
        } catch (e) {
          challengeFailed(e);
        } finally {
          busy(false);
        }
      };
    }
  };
  credentials();
  clear(app, h("main", { class: "center", id: "screen-signin" }, form));
  byId<HTMLInputElement>("username")?.focus();
}

// ---------- Shell ----------
function enter(me: Me): void {
  ui.me = me;
  const nav = (t: Tab, label: string) =>
    h("button", { id: `nav-${t}`, class: `tab${ui.tab === t ? " active" : ""}`, role: "tab", "aria-selected": ui.tab === t ? "true" : "false", onclick: () => show(t) }, label);
  const header = h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "dot" }), "Mentorcast"),
    h("nav", { role: "tablist" }, nav("studio", "Studio"), nav("recordings", "Recordings"), nav("settings", "Settings")),
    h(
      "div",
      { class: "user" },
      h("span", { id: "whoami" }, me.username),
      h("button", { id: "signout", class: "ghost", onclick: signOut }, "Sign out"),
    ),
  );
  clear(app, header, h("main", { id: "content" }));
  show(ui.tab);
}

function show(t: Tab): void {
  if (ui.tab === "studio" && t !== "studio") {
    void preview.release(byId<HTMLImageElement>("preview")).catch(() => undefined);
    if (!isLive()) void commands.stopPreview();
  }
  ui.tab = t;
  document.querySelectorAll(".tab").forEach((el) => {
    const on = el.id === `nav-${t}`;
    el.classList.toggle("active", on);
    el.setAttribute("aria-selected", on ? "true" : "false");
  });
  const content = byId("content");
  if (!content) return;
  if (t === "studio") studio(content);
  else if (t === "recordings") recordings(content);
  else settings(content);
}

async function signOut(): Promise<void> {
  try {
    const msg = await call(commands.signOut());
    ui.channel = null;
    signInScreen(undefined, msg);
  } catch (e) {
    toast(errorOf(e));
  }
}

function toast(text: string): void {
  const t = h("div", { class: "toast", role: "status" }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

function isLive(): boolean {
  return !!ui.status && ["connecting", "live", "reconnecting", "ending"].includes(ui.status.state);
}

// ---------- Studio ----------
const PRESETS: { id: Preset; label: string; kbps: number }[] = [
  { id: "p1080p30", label: "1080p · 30 fps", kbps: 5000 },
  { id: "p720p30", label: "720p · 30 fps", kbps: 3000 },
  { id: "p480p30", label: "480p · 30 fps", kbps: 1500 },
];

function selected(id: string): string {
  return byId<HTMLSelectElement>(id)?.value ?? "synthetic";
}

// Preview restarts run one at a time (device changes, tab switches and the end of a broadcast may ask at once).
let previewQueue: Promise<void> = Promise.resolve();
function restartPreview(): Promise<void> {
  previewQueue = previewQueue.then(doRestartPreview, doRestartPreview);
  return previewQueue;
}

async function doRestartPreview(): Promise<void> {
  if (isLive()) return;
  try {
    await call(commands.startPreview(selected("camera"), selected("mic"), (selected("preset") || "p720p30") as Preset));
    setHint("");
  } catch (e) {
    setHint(errorOf(e));
  }
}

/** The preview <img> shows the app's MJPEG stream (one request; WebKit decodes each frame as it comes). */
const preview = new PreviewLink({ url: () => call(commands.previewUrl()), release: () => call(commands.releasePreview()) });

async function attachPreview(img: HTMLImageElement): Promise<void> {
  img.onload = () => img.classList.add("has-frame");
  try {
    await preview.attach(img);
  } catch (e) {
    setHint(errorOf(e));
  }
}

function setHint(text: string): void {
  const el = byId("source-hint");
  if (el) el.textContent = text;
}


function studio(root: HTMLElement): void {
  const camera = h("select", { id: "camera", "aria-label": "Camera", onchange: () => void restartPreview() });
  const mic = h("select", { id: "mic", "aria-label": "Microphone", onchange: () => void restartPreview() });
  const preset = h("select", {
    id: "preset",
    "aria-label": "Quality",
    onchange: () => {
      const p = PRESETS.find((x) => x.id === preset.value);
      if (p) bitrate.value = String(p.kbps);
      void restartPreview();
    },
  });
  for (const p of PRESETS) preset.append(h("option", { value: p.id, selected: p.id === "p720p30" }, p.label));
  const bitrate = h("input", { id: "bitrate", type: "number", min: 300, max: 8000, step: 100, value: 3000, "aria-label": "Video bitrate (kbps)" });

  const channelBox = h("div", { id: "channel", class: "channel" }, h("p", { class: "muted" }, "Loading your channel…"));
  const goLive = h("button", { id: "golive", class: "primary big", disabled: true, onclick: () => void toggleLive() }, "Go Live");

  root.replaceChildren(
    h(
      "div",
      { class: "studio" },
      h(
        "section",
        { class: "stage" },
        h(
          "div",
          { class: "preview-box" },
          h("img", { id: "preview", alt: "Camera preview" }),
          h("span", { id: "badge", class: "badge badge-idle" }, "PREVIEW"),
          h("div", { id: "viewers", class: "viewers", title: "Viewers watching now (peak this session)" }, h("span", { class: "eye" }, "●"), h("span", { id: "viewers-active" }, "0"), h("span", { class: "muted" }, " watching · peak "), h("span", { id: "viewers-peak" }, "0")),
        ),
        h(
          "div",
          { class: "meter-row" },
          h("span", { class: "muted" }, "Mic"),
          h("div", { class: "meter", role: "meter", "aria-label": "Microphone level", id: "meter" }, h("div", { id: "meter-fill", class: "meter-fill meter-silent" })),
        ),
        h(
          "div",
          { class: "status card", id: "status" },
          h("h2", { id: "status-title" }, "Ready"),
          h("p", { id: "status-detail", class: "muted" }, "Choose your camera and microphone, then Go Live."),
        ),
        h(
          "div",
          { class: "health card", id: "health" },
          stat("FPS", "health-fps"),
          stat("Bitrate", "health-bitrate"),
          stat("Dropped", "health-dropped"),
          stat("Delay", "health-delay"),
          h("canvas", { id: "chart", width: 600, height: 90, "aria-label": "Video bitrate over the last minutes" }),
        ),
      ),
      h(
        "aside",
        { class: "controls" },
        // Go Live first: the cards below change height as they load, the button never moves
        goLive,
        h("p", { class: "hint" }, "Shortcuts: Ctrl+L goes live, Ctrl+E ends."),
        h("div", { class: "card" }, h("h3", {}, "Sources"), field("Camera", camera), field("Microphone", mic), h("p", { id: "source-hint", class: "hint" })),
        h("div", { class: "card" }, h("h3", {}, "Quality"), field("Preset", preset), field("Video bitrate (kbps)", bitrate)),
        h("div", { class: "card" }, h("h3", {}, "Channel"), channelBox),
      ),
    ),
  );
  if (ui.status) renderStatus(ui.status);
  renderViewers(ui.viewers);
  void attachPreview(byId<HTMLImageElement>("preview")!);
  void loadDevices(camera, mic).then(() => {
    if (ui.status) renderStatus(ui.status);
    else goLive.disabled = !sourcesReady();
    return restartPreview();
  });
  void loadChannel(channelBox);
}

function stat(label: string, id: string): HTMLElement {
  return h("div", { class: "stat" }, h("span", { class: "muted" }, label), h("strong", { id, class: "level-none" }, "–"));
}

function field(label: string, input: HTMLElement): HTMLElement {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

async function loadDevices(camera: HTMLSelectElement, mic: HTMLSelectElement): Promise<void> {
  try {
    ui.devices = ui.devices ?? (await call(commands.listDevices()));
    for (const d of ui.devices.cameras) camera.append(h("option", { value: d.id }, d.label));
    for (const d of ui.devices.microphones) mic.append(h("option", { value: d.id }, d.label));
    setHint(ui.devices.notes.join(" "));
  } catch (e) {
    setHint(errorOf(e));
  }
}

async function loadChannel(box: HTMLElement): Promise<void> {
  try {
    ui.channel = await call(commands.getChannel());
    renderChannel(box, ui.channel);
  } catch (e) {
    clear(box, h("p", { class: "error", id: "channel-error" }, errorOf(e)));
  }
}

function renderChannel(box: HTMLElement, c: ChannelView): void {
  const key = h("code", { id: "stream-key", class: "key" }, c.key_masked);
  let revealed = false;
  const reveal = h("button", { id: "reveal-key", class: "ghost small" }, "Reveal");
  reveal.onclick = async () => {
    if (revealed) {
      key.textContent = c.key_masked;
      reveal.textContent = "Reveal";
      revealed = false;
      return;
    }
    try {
      key.textContent = await call(commands.revealKey());
      reveal.textContent = "Hide";
      revealed = true;
    } catch (e) {
      toast(errorOf(e));
    }
  };
  const copy = h("button", { id: "copy-key", class: "ghost small" }, "Copy");
  copy.onclick = async () => {
    try {
      await navigator.clipboard.writeText(await call(commands.revealKey()));
      toast("Stream key copied. Keep it secret: anyone with it can broadcast as you.");
    } catch (e) {
      toast(errorOf(e));
    }
  };
  const rotate = h("button", { id: "rotate-key", class: "ghost small" }, "New key");
  rotate.onclick = async () => {
    if (!(await confirmDialog("Issue a new stream key?", "The current key stops working at once (other apps or OBS using it will be refused).", "Issue new key"))) return;
    try {
      ui.channel = await call(commands.rotateKey());
      renderChannel(box, ui.channel);
      toast("New stream key issued.");
    } catch (e) {
      toast(errorOf(e));
    }
  };
  clear(
    box,
    h("div", { class: "kv" }, h("span", { class: "muted" }, "Room"), h("strong", { id: "channel-app" }, c.app)),
    h("div", { class: "kv" }, h("span", { class: "muted" }, "Ingest"), h("code", {}, c.ingest_url)),
    h("div", { class: "kv" }, h("span", { class: "muted" }, "Key"), key),
    h("div", { class: "row" }, reveal, copy, rotate),
  );
}

async function toggleLive(): Promise<void> {
  const mode = buttonMode(ui.status?.state ?? "idle");
  if (mode === "busy" || (mode === "go-live" && !sourcesReady())) return;
  if (mode === "end") {
    if (await confirmDialog("End the class?", "Viewers will see the stream stop. The recording appears in Recordings shortly.", "End broadcast", "confirm-end")) {
      try {
        await call(commands.endLive());
      } catch (e) {
        toast(errorOf(e));
      }
    }
    return;
  }
  const kbps = Number(byId<HTMLInputElement>("bitrate")?.value ?? 3000);
  ui.viewers = { active: 0, peak: 0, total: 0, connected: false };
  renderViewers(ui.viewers);
  try {
    await call(commands.goLive({ camera: selected("camera"), microphone: selected("mic"), preset: selected("preset") as Preset, video_kbps: kbps }));
  } catch (e) {
    const title = byId("status-title"), detail = byId("status-detail");
    if (title) title.textContent = "Cannot go live";
    if (detail) detail.textContent = errorOf(e);
    byId("status")?.classList.add("status-failed");
  }
}

/** The device lists are in (Go Live needs a chosen camera and microphone). */
function sourcesReady(): boolean {
  return (byId<HTMLSelectElement>("camera")?.options.length ?? 0) > 0 && (byId<HTMLSelectElement>("mic")?.options.length ?? 0) > 0;
}

function renderStatus(s: BroadcastStatus): void {
  const was = ui.status?.state;
  ui.status = s;
  const title = byId("status-title");
  if (!title) return;
  // once a second while live: only what changed is written (each write is a repaint)
  setText(title, s.title);
  setText(byId("status-detail"), s.detail);
  setClass(byId("status"), `status card status-${s.state}`);
  const b = badge(s);
  const bd = byId("badge")!;
  setText(bd, b.text);
  setClass(bd, `badge ${b.cls}`);
  const btn = byId<HTMLButtonElement>("golive")!;
  const mode = buttonMode(s.state);
  setText(btn, mode === "end" ? "End" : mode === "busy" ? (s.state === "ending" ? "Ending…" : "Connecting…") : "Go Live");
  setClass(btn, mode === "end" ? "danger big" : "primary big");
  btn.disabled = mode === "busy" || (mode === "go-live" && !sourcesReady());
  for (const id of ["camera", "mic", "preset", "bitrate"]) {
    const el = byId<HTMLInputElement>(id);
    if (el) el.disabled = mode !== "go-live";
  }
  const hh = s.health;
  setStat("health-fps", hh.target_fps ? `${num(hh.fps).toFixed(1)} / ${hh.target_fps}` : "–", hh.fps_level);
  setStat("health-bitrate", s.state === "live" ? formatKbps(num(hh.video_kbps) + num(hh.audio_kbps)) : "–", null);
  setStat("health-dropped", `${hh.frames_dropped} (${num(hh.dropped_pct).toFixed(1)} %)`, hh.dropped_level);
  setStat("health-delay", s.state === "live" ? `${Math.round(num(hh.queue_delay_ms))} ms` : "–", null);
  const chart = byId<HTMLCanvasElement>("chart");
  if (chart) drawChart(chart, hh.bitrate_history.map(num), hh.target_kbps);
  // back to the preview once a broadcast is over (only on that change: not on every repaint)
  if ((s.state === "ended" || s.state === "failed") && was !== undefined && was !== s.state && ui.tab === "studio") void restartPreview();
}

function setStat(id: string, text: string, level: Parameters<typeof levelClass>[0]): void {
  const el = byId(id);
  if (!el) return;
  setText(el, text);
  setClass(el, levelClass(level));
}

function renderViewers(v: ViewerCountView): void {
  ui.viewers = v;
  const a = byId("viewers-active"), p = byId("viewers-peak");
  setText(a, String(v.active));
  setText(p, String(v.peak));
  const box = byId("viewers");
  if (box) {
    box.classList.toggle("stale", !v.connected);
    box.setAttribute("aria-label", viewersText(v.active, v.peak));
  }
}

// ---------- Recordings ----------
async function recordings(root: HTMLElement): Promise<void> {
  const list = h("div", { id: "recordings", class: "recordings" }, h("p", { class: "muted" }, "Loading recordings…"));
  const player = h("section", { id: "player", class: "player card" }, h("p", { class: "muted" }, "Choose a recording to play it here."));
  root.replaceChildren(h("div", { class: "recordings-page" }, h("div", { class: "list-col" }, h("div", { class: "row" }, h("h2", {}, "Recordings"), h("button", { id: "refresh-recordings", class: "ghost small", onclick: () => void recordings(root) }, "Refresh")), list), player));
  try {
    const items = await call(commands.listRecordings());
    if (items.length === 0) return void clear(list, h("p", { class: "muted", id: "no-recordings" }, "No recordings yet: they appear here a minute after a class ends."));
    clear(list, ...items.map((r) => recordingCard(r, player)));
  } catch (e) {
    clear(list, h("p", { class: "error" }, errorOf(e)));
  }
}

function recordingCard(r: RecordingView, player: HTMLElement): HTMLElement {
  const card = h(
    "button",
    { class: "recording card", "data-id": r.id, id: `recording-${r.id}` },
    h("img", { src: r.thumbnail_url, alt: "", class: "thumb", loading: "lazy" }),
    h("div", { class: "meta" }, h("strong", {}, formatDate(r.started_at)), h("span", { class: "muted" }, recordingSubtitle(r))),
  );
  card.onclick = () => {
    document.querySelectorAll(".recording.selected").forEach((el) => el.classList.remove("selected"));
    card.classList.add("selected");
    const video = h("video", { id: "player-video", controls: true, preload: "metadata", src: r.url, autoplay: true });
    clear(
      player,
      h("h3", {}, `${formatDate(r.started_at)} · ${formatDuration(num(r.duration_s))}`),
      video,
      h(
        "div",
        { class: "stats-row" },
        h("span", {}, `Viewers: ${r.viewers_total} total, peak ${r.viewers_peak}`),
        r.avg_play_time_s != null ? h("span", {}, `Average watch time: ${formatDuration(r.avg_play_time_s)}`) : null,
        h("span", { class: "muted" }, `${(r.size_bytes / 1e6).toFixed(1)} MB`),
      ),
    );
  };
  return card;
}

// ---------- Settings ----------
async function settings(root: HTMLElement): Promise<void> {
  root.replaceChildren(h("p", { class: "muted" }, "Loading settings…"));
  let s: SettingsView, info: AppInfo;
  try {
    [s, info] = await Promise.all([call(commands.getSettings()), call(commands.appInfo())]);
  } catch (e) {
    return void root.replaceChildren(h("p", { class: "error" }, errorOf(e)));
  }
  const url = h("input", { id: "override-url", placeholder: "rtmp://host:1935/app (empty: your channel)", value: s.ingest_override_url ?? "" });
  const key = h("input", { id: "override-key", type: "password", autocomplete: "off", placeholder: s.ingest_override_has_key ? "•••• stored (type to replace, clear to remove)" : "stream key" });
  const store = h("select", { id: "token-store" });
  for (const [v, l] of [["auto", "Automatic (keyring, else a private file)"], ["keyring", "System keyring"], ["file", "Private file"]] as const) store.append(h("option", { value: v, selected: (s.token_store ?? "auto") === v }, l));
  const msg = h("p", { id: "settings-msg", class: "hint" });
  const save = h("button", { id: "save-settings", class: "primary" }, "Save");
  save.onclick = async () => {
    try {
      const keyVal = key.value;
      const out = await call(commands.saveSettings({ ingest_override_url: url.value || null, ingest_override_key: keyVal === "" ? null : keyVal, token_store: store.value as "auto" | "keyring" | "file" }));
      key.value = "";
      key.placeholder = out.ingest_override_has_key ? "•••• stored (type to replace, clear to remove)" : "stream key";
      msg.textContent = "Saved.";
    } catch (e) {
      msg.textContent = errorOf(e);
    }
  };
  const kv = (k: string, v: string) => h("div", { class: "kv" }, h("span", { class: "muted" }, k), h("code", {}, v));
  root.replaceChildren(
    h(
      "div",
      { class: "settings" },
      h("section", { class: "card" }, h("h3", {}, "Ingest override (QA)"), h("p", { class: "muted" }, "Send to another RTMP/RTMPS ingest instead of your channel. Leave empty for normal use."), field("URL", url), field("Stream key", key), field("Keep sign-in tokens in", store), h("div", { class: "row" }, save), msg),
      h(
        "section",
        { class: "card" },
        h("h3", {}, "Backend and sign-in"),
        kv("Config file", info.config_path ?? "none (defaults)"),
        kv("Backend", info.api_url),
        ...(info.cognito ? [kv("Cognito region", info.cognito.region), kv("User pool", info.cognito.user_pool_id), kv("App client", info.cognito.client_id), kv("Endpoint", info.cognito.endpoint ?? "AWS"), kv("Sign-in flow", info.cognito.auth_flow)] : [h("p", { class: "error" }, "No Cognito settings.")]),
        kv("Tokens kept in", info.token_store),
      ),
      h("section", { class: "card" }, h("h3", {}, `About Mentorcast ${info.version}`), h("ul", { class: "licences" }, ...info.licences.map((l) => h("li", {}, `${l.name} — ${l.licence}`)))),
    ),
  );
}

// ---------- Events and start ----------
void events.broadcastStatusEvent.listen((e) => renderStatus(e.payload));
void events.viewersEvent.listen((e) => renderViewers(e.payload));
void events.micLevelEvent.listen((e) => {
  const fill = byId("meter-fill");
  if (!fill) return;
  // 10 updates a second: a transform (no layout) and the class only when it changes
  fill.style.transform = `scaleX(${meterFraction(e.payload.peak_dbfs).toFixed(2)})`;
  const cls = `meter-fill ${meterClass(e.payload)}`;
  if (fill.className !== cls) fill.className = cls;
});

// A hidden window (minimised, another desktop) ends the preview stream: the app then scales
// and encodes no preview frame at all; showing the window again reopens it.
document.addEventListener("visibilitychange", () => {
  const img = byId<HTMLImageElement>("preview");
  if (!img) return;
  if (document.hidden) void preview.release(img).catch(() => undefined);
  else void attachPreview(img);
});

document.addEventListener("keydown", (e) => {
  if (!ui.me || !e.ctrlKey || ui.tab !== "studio") return;
  const mode = buttonMode(ui.status?.state ?? "idle");
  if ((e.key === "l" || e.key === "L") && mode === "go-live") {
    e.preventDefault();
    void toggleLive();
  } else if ((e.key === "e" || e.key === "E") && mode === "end") {
    e.preventDefault();
    void toggleLive();
  }
});

async function start(): Promise<void> {
  try {
    ui.status = await call(commands.broadcastStatus());
    const me = await call(commands.currentUser());
    if (me) enter(me);
    else signInScreen();
  } catch (e) {
    signInScreen(errorOf(e));
  }
}
void start();
