// Fixtures and fakes for the Vitest suites (not part of the app bundle).
import { vi } from "vitest";
import type { Api } from "./api";
import { call } from "./api";
import type { AppInfo, BroadcastStatus, ChannelView, ConnectionReport, DeviceList, Health, LocalCopyView, Me, RecordingView, SessionPhase, SettingsView, UiError } from "./bindings";
import { Serial } from "./context";
import type { Ctx } from "./context";
import { tid } from "./dom";
import { PreviewLink } from "./preview";
import { Store, initialState } from "./store";
import type { AppState } from "./store";

export const ok = <T>(data: T) => Promise.resolve({ status: "ok" as const, data });
export const fail = (kind: UiError["kind"], message: string) => Promise.resolve({ status: "error" as const, error: { kind, message } });
/** A command that has not answered yet: `resolve` answers it. */
export function pending<T>(): { promise: Promise<{ status: "ok"; data: T }>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<{ status: "ok"; data: T }>((r) => (resolve = (v) => r({ status: "ok", data: v })));
  return { promise, resolve };
}

/** Lets every settled promise's callbacks run. */
export const flush = () => new Promise<void>((r) => setTimeout(r, 0));

export const me = (username = "mentor1"): Me => ({ username, email: null, groups: ["mentors"], is_mentor: true, token_store: "a private file" });

export const health = (over: Partial<Health> = {}): Health => ({
  fps: 0, target_fps: 30, fps_level: null, video_kbps: 0, audio_kbps: 0, target_kbps: 3000, encoder_kbps: 3000, slow_notice: null,
  frames_sent: 0, frames_dropped: 0, dropped_pct: 0, dropped_level: null, queue_delay_ms: 0, bitrate_history: [], encoder_history: [], ...over,
});

/** What Rust says in each phase (titles as crates/app-core/src/health.rs writes them). */
export const TITLES: Record<SessionPhase, [string, string]> = {
  idle: ["Ready", "Choose your camera and microphone, then Go Live."],
  connecting: ["Connecting…", "Reaching the ingest and offering the stream key."],
  live: ["Live 00:01:01", "Your class is on air. End it with End (Ctrl+E)."],
  reconnecting: ["Reconnecting… attempt 3 · next try in 2 s · off air 00:00:05", "The connection dropped (reset). Mentorcast keeps trying; check your network."],
  ending: ["Ending…", "Sending what is left and closing the stream."],
  ended: ["Ended", "The class is over; its recording appears in Recordings within a minute."],
  failed: ["Stream key rejected", "The ingest refused the stream key."],
};

export function status(state: SessionPhase, over: Partial<BroadcastStatus> = {}): BroadcastStatus {
  const [title, detail] = TITLES[state];
  return { state, title, detail, elapsed_s: 61, elapsed_text: "00:01:01", health: health(), destination: null, ...over };
}

export const devices = (): DeviceList => ({
  cameras: [{ id: "synthetic", label: "Test pattern" }, { id: "/dev/video0", label: "USB camera" }],
  microphones: [{ id: "synthetic", label: "Test tone" }, { id: "default", label: "Default microphone" }],
  notes: [],
});

export const channel = (over: Partial<ChannelView> = {}): ChannelView => ({
  app: "room-abc", ingest_url: "rtmp://ingest.example:1935/room-abc", key_masked: "sk_••••••••••••", hls_url: "https://x/hls", watch_url: "https://x/watch", key_issued_at: 1700000000, ...over,
});

export const recording = (id: number, over: Partial<RecordingView> = {}): RecordingView => ({
  id, app: "room-abc", mentor: "mentor1", started_at: 1700000000 + id * 3600, ended_at: 1700000000 + id * 3600 + 65, duration_s: 65, size_bytes: 12_300_000,
  url: `https://backend.example/rec/${id}.mp4`, thumbnail_url: `https://backend.example/rec/${id}.jpg`, viewers_total: 7, viewers_peak: 5, avg_play_time_s: 42, ...over,
});

export const settingsView = (over: Partial<SettingsView> = {}): SettingsView => ({
  ingest_override_url: null, ingest_override_has_key: false, token_store: null, local_copy: true, local_copy_dir: "/home/m/Videos/Mentorcast", adaptive: true, ...over,
});

export const connectionReport = (over: Partial<ConnectionReport> = {}): ConnectionReport => ({
  rtt_ms: 12.4, upload_kbps: 9800, took_s: 6.1,
  recommendations: [{ preset: "p1080p30", video_kbps: 4500 }, { preset: "p720p30", video_kbps: 2500 }], ...over,
});

export const localCopy = (over: Partial<LocalCopyView> = {}): LocalCopyView => ({
  path: "/home/m/Videos/Mentorcast/mentorcast-20261203-070000.flv", name: "mentorcast-20261203-070000.flv", ended_at: 1796281200, duration_s: 754, size_bytes: 211_000_000, ...over,
});

export const appInfo = (over: Partial<AppInfo> = {}): AppInfo => ({
  version: "1.2.3", config_path: "/home/m/.config/mentorcast/config.toml", api_url: "https://api.example",
  cognito: { region: "eu-west-1", user_pool_id: "eu-west-1_abc", client_id: "client1", endpoint: null, auth_flow: "srp" },
  token_store: "a private file", licences: [{ name: "tauri", licence: "MIT" }], ...over,
});

/** Every command, answering like a healthy app; `over` replaces some. Each is a vi.fn. */
export function fakeApi(over: Partial<Api> = {}): Api {
  const base: Api = {
    appInfo: () => ok(appInfo()),
    currentUser: () => ok(null),
    signIn: () => ok({ step: "signed_in" as const, me: me() }),
    answerNewPassword: () => ok({ step: "signed_in" as const, me: me() }),
    answerMfa: () => ok({ step: "signed_in" as const, me: me() }),
    signOut: () => ok("Signed out. Your stored session was removed."),
    getChannel: () => ok(channel()),
    revealKey: () => ok("sk_0123456789abcdefXYZ"),
    rotateKey: () => ok(channel({ key_masked: "sk_••••••••••••", app: "room-abc" })),
    listDevices: () => ok(devices()),
    startPreview: () => ok(null),
    previewUrl: () => ok("http://127.0.0.1:1/preview/tok"),
    releasePreview: () => ok(null),
    stopPreview: () => ok(null),
    goLive: () => ok(null),
    testConnection: () => ok(connectionReport()),
    endLive: () => ok(null),
    broadcastStatus: () => ok(status("idle")),
    listRecordings: () => ok([]),
    listLocalCopies: () => ok([]),
    openLocalCopy: () => ok(null),
    getSettings: () => ok(settingsView()),
    saveSettings: (u) =>
      ok(settingsView({ ingest_override_url: u.ingest_override_url, ingest_override_has_key: !!u.ingest_override_key, local_copy: u.local_copy ?? true, adaptive: u.adaptive ?? true })),
  };
  const all = { ...base, ...over } as Record<string, (...a: unknown[]) => unknown>;
  return Object.fromEntries(Object.entries(all).map(([k, f]) => [k, vi.fn(f)])) as unknown as Api;
}

export interface TestCtx extends Ctx {
  toasts: string[];
  /** What the next confirmation answers. */
  answer: { value: boolean };
}

export function fakeCtx(opts: { api?: Partial<Api>; state?: Partial<AppState> } = {}): TestCtx {
  const api = fakeApi(opts.api);
  const toasts: string[] = [];
  const answer = { value: true };
  return {
    store: new Store({ ...initialState(), ...opts.state }),
    api,
    preview: new PreviewLink({ url: () => call(api.previewUrl()), release: () => call(api.releasePreview()) }),
    previewJobs: new Serial(),
    toast: (t) => void toasts.push(t),
    confirm: vi.fn(async () => answer.value),
    copyText: vi.fn(async () => undefined),
    toasts,
    answer,
  };
}

/** The element with that test id (fails the test when it is missing). */
export function el<T extends HTMLElement = HTMLElement>(root: ParentNode, id: string): T {
  const e = root.querySelector<T>(tid(id));
  if (!e) throw new Error(`no element with data-testid=${id}`);
  return e;
}

export function text(root: ParentNode, id: string): string | null {
  return root.querySelector(tid(id))?.textContent ?? null;
}

/** The state with these slices replaced (a signed-in mentor by default). */
export function stateWith(over: Partial<AppState>): Partial<AppState> {
  return { session: { phase: "signed-in", me: me() }, ...over };
}

/** Records DOM mutations under `node` (read with `records()`). */
export function watch(node: Node): { records: () => MutationRecord[]; stop: () => void } {
  const mo = new MutationObserver(() => undefined);
  mo.observe(node, { childList: true, characterData: true, subtree: true, attributes: true });
  return { records: () => mo.takeRecords(), stop: () => mo.disconnect() };
}
