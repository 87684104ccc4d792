import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { BITRATE_LIMITS, PRESETS } from "../bindings";
import type { BroadcastStatus, SessionPhase } from "../bindings";
import { drawChart } from "../chart";
import type { Mounted } from "../context";
import { initialState, reduce } from "../store";
import type { Action, AppState } from "../store";
import { TITLES, channel, connectionReport, devices, el, fail, fakeCtx, flush, health, me, pending, status, text, watch } from "../testing";
import type { ConnectionReport } from "../bindings";
import type { TestCtx } from "../testing";
import { mountStudio } from "./studio";

vi.mock("../chart", () => ({ drawChart: vi.fn() }));

let root: HTMLElement;
let screen: Mounted | null = null;
beforeEach(() => vi.mocked(drawChart).mockClear());
afterEach(() => {
  screen?.unmount();
  screen = null;
  document.body.replaceChildren();
});

/** Signed in, the device lists in, then these actions. */
function stateAfter(...actions: Action[]): AppState {
  return [{ type: "session/entered", me: me() } as Action, { type: "devices/loaded", devices: devices() } as Action, ...actions].reduce(reduce, initialState());
}

function mount(state: AppState = stateAfter(), api: NonNullable<Parameters<typeof fakeCtx>[0]>["api"] = {}): TestCtx {
  root = document.createElement("div");
  document.body.append(root);
  const ctx = fakeCtx({ api, state });
  screen = mountStudio(root, ctx);
  return ctx;
}

const received = (s: BroadcastStatus): Action => ({ type: "status/received", status: s });
const button = () => el<HTMLButtonElement>(root, "go-live");
const pickers = () => ["camera", "microphone", "preset", "bitrate"].map((id) => el<HTMLInputElement>(root, id));
const ctrl = (key: string) => document.dispatchEvent(new KeyboardEvent("keydown", { key, ctrlKey: true, bubbles: true, cancelable: true }));

// What each phase shows: badge, its class, the main button and its class, whether the button and the pickers can be used.
const EXPECTED: Record<SessionPhase, { badge: string; badgeCls: string; button: string; buttonCls: string; buttonOff: boolean; pickersOff: boolean }> = {
  idle: { badge: "PREVIEW", badgeCls: "badge badge-idle", button: "Go Live", buttonCls: "primary big", buttonOff: false, pickersOff: false },
  connecting: { badge: "CONNECTING", badgeCls: "badge badge-wait", button: "Connecting…", buttonCls: "primary big", buttonOff: true, pickersOff: true },
  live: { badge: "LIVE 00:01:01", badgeCls: "badge badge-live", button: "End", buttonCls: "danger big", buttonOff: false, pickersOff: true },
  reconnecting: { badge: "RECONNECTING", badgeCls: "badge badge-warn", button: "Stop trying", buttonCls: "danger big", buttonOff: false, pickersOff: true },
  ending: { badge: "ENDING", badgeCls: "badge badge-wait", button: "Ending…", buttonCls: "primary big", buttonOff: true, pickersOff: true },
  ended: { badge: "PREVIEW", badgeCls: "badge badge-idle", button: "Go Live", buttonCls: "primary big", buttonOff: false, pickersOff: false },
  failed: { badge: "NOT LIVE", badgeCls: "badge badge-error", button: "Go Live", buttonCls: "primary big", buttonOff: false, pickersOff: false },
};

describe("Studio: each SessionPhase", () => {
  it.each(Object.keys(EXPECTED) as SessionPhase[])("%s: badge, title, detail, button and pickers", (phase) => {
    const x = EXPECTED[phase];
    mount(stateAfter(received(status(phase))));
    expect(text(root, "badge")).toBe(x.badge);
    expect(el(root, "badge").className).toBe(x.badgeCls);
    expect(text(root, "status-title")).toBe(TITLES[phase][0]);
    expect(text(root, "status-detail")).toBe(TITLES[phase][1]);
    expect(el(root, "status").className).toBe(`status card status-${phase}`);
    expect(button().textContent).toBe(x.button);
    expect(button().className).toBe(x.buttonCls);
    expect(button().disabled).toBe(x.buttonOff);
    for (const p of pickers()) expect(p.disabled).toBe(x.pickersOff);
  });

  it.each(Object.keys(EXPECTED) as SessionPhase[])("%s: the same when it arrives as an event on a mounted Studio", (phase) => {
    const ctx = mount();
    ctx.store.dispatch(received(status(phase)));
    expect(text(root, "badge")).toBe(EXPECTED[phase].badge);
    expect(text(root, "status-title")).toBe(TITLES[phase][0]);
    expect(button().textContent).toBe(EXPECTED[phase].button);
    expect(button().disabled).toBe(EXPECTED[phase].buttonOff);
  });

  it("the reconnecting title is Rust's, attempt and next try included", () => {
    const ctx = mount(stateAfter(received(status("live"))));
    ctx.store.dispatch(received(status("reconnecting", { title: "Reconnecting… attempt 3 · next try in 2 s" })));
    expect(text(root, "status-title")).toBe("Reconnecting… attempt 3 · next try in 2 s");
    expect(el(root, "status").className).toBe("status card status-reconnecting");
  });

  it("before Rust's first status: Ready, PREVIEW, Go Live", () => {
    mount();
    expect(text(root, "status-title")).toBe("Ready");
    expect(text(root, "badge")).toBe("PREVIEW");
    expect(button().textContent).toBe("Go Live");
    expect(button().disabled).toBe(false);
  });
});

describe("Studio: the once-a-second render", () => {
  it("writes only what changed (the clock), not the title's node when it is the same", () => {
    const live = status("live", { title: "Live 00:00:05", elapsed_text: "00:00:05", health: health({ fps: 30, video_kbps: 2900, audio_kbps: 128 }) });
    const ctx = mount(stateAfter(received(live)));
    const titleNode = el(root, "status-title").firstChild;
    const w = watch(el(root, "screen-studio").querySelector(".stage")!);
    // a second later: only the health changed
    ctx.store.dispatch(received({ ...live, health: health({ fps: 30, video_kbps: 2900, audio_kbps: 128 }) }));
    expect(w.records().filter((r) => r.target !== el(root, "meter-fill"))).toHaveLength(0);
    expect(el(root, "status-title").firstChild).toBe(titleNode);
    const bw = watch(button());
    ctx.store.dispatch(received({ ...live, title: "Live 00:00:06", elapsed_text: "00:00:06" }));
    expect(text(root, "status-title")).toBe("Live 00:00:06");
    expect(text(root, "badge")).toBe("LIVE 00:00:06");
    const changed = new Set(w.records().map((r) => (r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target) as Element));
    expect([...changed].map((e) => e.getAttribute("data-testid")).sort()).toEqual(["badge", "status-title"]);
    expect(bw.records()).toHaveLength(0);
    w.stop();
    bw.stop();
  });

  it("the mic meter moves by transform, not by re-rendering the status", () => {
    const ctx = mount(stateAfter(received(status("live"))));
    vi.mocked(drawChart).mockClear();
    const w = watch(el(root, "status"));
    ctx.store.dispatch({ type: "mic/level", level: { peak_dbfs: -30, rms_dbfs: -40 } });
    expect(el(root, "meter-fill").style.transform).toBe("scaleX(0.50)");
    expect(el(root, "meter-fill").className).toBe("meter-fill meter-ok");
    ctx.store.dispatch({ type: "mic/level", level: { peak_dbfs: -3, rms_dbfs: -10 } });
    expect(el(root, "meter-fill").style.transform).toBe("scaleX(0.95)");
    expect(el(root, "meter-fill").className).toBe("meter-fill meter-hot");
    expect(w.records()).toHaveLength(0);
    expect(drawChart).not.toHaveBeenCalled();
    w.stop();
  });
});

describe("Studio: test connection", () => {
  const testBtn = () => el<HTMLButtonElement>(root, "test-connection");
  const apply = () => el<HTMLButtonElement>(root, "apply-recommendation");

  it("testing, then what was measured and the best recommendation, which one click applies", async () => {
    const answer = pending<ConnectionReport>();
    const ctx = mount(stateAfter(), { testConnection: () => answer.promise });
    expect(text(root, "connection-result")).toBe("");
    expect(apply().hidden).toBe(true);
    testBtn().click();
    await flush();
    expect(testBtn().disabled).toBe(true);
    expect(text(root, "test-connection")).toBe("Testing…");
    expect(text(root, "connection-result")).toBe("Testing the connection to the ingest (up to 10 s; nothing goes on air)…");
    testBtn().click();
    expect(ctx.api.testConnection).toHaveBeenCalledOnce();
    answer.resolve(connectionReport({ upload_kbps: 1000, rtt_ms: 48.6, recommendations: [{ preset: "p480p30", video_kbps: 572 }] }));
    await flush();
    expect(text(root, "connection-result")).toBe("Upload 1.0 Mb/s, round trip 49 ms. Recommended: 480p30 at 572 kb/s.");
    expect(testBtn().disabled).toBe(false);
    apply().click();
    expect(el<HTMLSelectElement>(root, "preset").value).toBe("p480p30");
    expect(el<HTMLInputElement>(root, "bitrate").value).toBe("572");
  });

  it("a failed test says why; nothing to apply; not while live", async () => {
    const ctx = mount(stateAfter(), { testConnection: () => fail("network", "The connection test failed: connection refused.") });
    testBtn().click();
    await flush();
    expect(text(root, "connection-result")).toBe("The connection test failed: connection refused.");
    expect(el(root, "connection-result").className).toBe("hint error");
    expect(apply().hidden).toBe(true);
    ctx.store.dispatch(received(status("live")));
    expect(testBtn().disabled).toBe(true);
  });
});

describe("Studio: health, viewers", () => {
  it("live: fps against the target, bitrate, dropped frames and delay with their levels; the chart gets the history and target", () => {
    const hh = health({ fps: 29.94, target_fps: 30, fps_level: "good", video_kbps: 2900, audio_kbps: 128, frames_dropped: 3, dropped_pct: 1.5, dropped_level: "warning", queue_delay_ms: 120.4, target_kbps: 3000, bitrate_history: [2800, null, 2950], encoder_history: [3000, 3000, 3000] });
    mount(stateAfter(received(status("live", { health: hh }))));
    expect(text(root, "health-fps")).toBe("29.9 / 30");
    expect(el(root, "health-fps").className).toBe("level-good");
    expect(text(root, "health-bitrate")).toBe("3.0 Mb/s");
    expect(text(root, "health-dropped")).toBe("3 (1.5 %)");
    expect(el(root, "health-dropped").className).toBe("level-warning");
    expect(text(root, "health-delay")).toBe("120 ms");
    expect(drawChart).toHaveBeenLastCalledWith(el(root, "chart"), [2800, 0, 2950], 3000, [3000, 3000, 3000]);
    expect(el(root, "slow-notice").hidden).toBe(true);
  });

  it("a slow connection: the notice while the quality is lowered, gone when it is back; the chart gets the encoder's target", () => {
    const slow = "Your connection is slow — quality lowered to 1.2 Mb/s";
    const lowered = health({ video_kbps: 1150, target_kbps: 3000, encoder_kbps: 1200, slow_notice: slow, bitrate_history: [2900, 1150], encoder_history: [3000, 1200] });
    const ctx = mount(stateAfter(received(status("live", { health: lowered }))));
    expect(el(root, "slow-notice").hidden).toBe(false);
    expect(text(root, "slow-notice")).toBe(slow);
    expect(drawChart).toHaveBeenLastCalledWith(el(root, "chart"), [2900, 1150], 3000, [3000, 1200]);
    ctx.store.dispatch(received(status("live", { health: health({ video_kbps: 2900 }) })));
    expect(el(root, "slow-notice").hidden).toBe(true);
    expect(text(root, "slow-notice")).toBe("");
  });

  it("reconnecting: attempt, next try and time off air in the title; the main button stops trying", () => {
    const ctx = mount();
    ctx.store.dispatch(received(status("reconnecting")));
    expect(text(root, "status-title")).toBe("Reconnecting… attempt 3 · next try in 2 s · off air 00:00:05");
    expect(text(root, "go-live")).toBe("Stop trying");
    expect((el(root, "go-live") as HTMLButtonElement).disabled).toBe(false);
  });

  it("not live: no bitrate or delay; before any status: dashes", () => {
    const ctx = mount();
    for (const id of ["health-fps", "health-bitrate", "health-dropped", "health-delay"]) expect(text(root, id)).toBe("–");
    ctx.store.dispatch(received(status("reconnecting", { health: health({ video_kbps: 0, queue_delay_ms: 900 }) })));
    expect(text(root, "health-bitrate")).toBe("–");
    expect(text(root, "health-delay")).toBe("–");
    expect(text(root, "health-fps")).toBe("0.0 / 30");
  });

  it("viewers: the count and the peak; stale while not followed", () => {
    const ctx = mount();
    expect(text(root, "viewers-active")).toBe("0");
    expect(el(root, "viewers").classList.contains("stale")).toBe(true);
    ctx.store.dispatch({ type: "viewers/received", viewers: { active: 5, peak: 7, total: 9, connected: true } });
    expect(text(root, "viewers-active")).toBe("5");
    expect(text(root, "viewers-peak")).toBe("7");
    expect(el(root, "viewers").classList.contains("stale")).toBe(false);
    expect(el(root, "viewers").getAttribute("aria-label")).toBe("5 watching · peak 7");
  });
});

describe("Studio: sources and quality", () => {
  it("presets and their labels from Rust's table; the default chosen with its bitrate; the field's limits from BITRATE_LIMITS", () => {
    mount();
    const preset = el<HTMLSelectElement>(root, "preset");
    expect([...preset.options].map((o) => [o.value, o.textContent])).toEqual(PRESETS.map((p) => [p.id, p.label]));
    expect(preset.value).toBe("p720p30");
    const kbps = el<HTMLInputElement>(root, "bitrate");
    expect(kbps.value).toBe(String(PRESETS.find((p) => p.id === "p720p30")!.default_kbps));
    expect(kbps.min).toBe(String(BITRATE_LIMITS.min_video_kbps));
    expect(kbps.max).toBe(String(BITRATE_LIMITS.max_video_kbps));
  });

  it("another preset brings its default bitrate and restarts the preview with its id", async () => {
    const ctx = mount();
    await flush();
    vi.mocked(ctx.api.startPreview).mockClear();
    const preset = el<HTMLSelectElement>(root, "preset");
    preset.value = "p1080p30";
    preset.dispatchEvent(new Event("change"));
    expect(el<HTMLInputElement>(root, "bitrate").value).toBe(String(PRESETS[0].default_kbps));
    await flush();
    expect(ctx.api.startPreview).toHaveBeenCalledWith("synthetic", "synthetic", "p1080p30");
  });

  it("a typed bitrate is what Go Live sends; an emptied field is not rewritten", async () => {
    const ctx = mount();
    const kbps = el<HTMLInputElement>(root, "bitrate");
    kbps.value = "";
    kbps.dispatchEvent(new Event("input"));
    expect(kbps.value).toBe("");
    kbps.value = "2500";
    kbps.dispatchEvent(new Event("input"));
    button().click();
    await flush();
    expect(ctx.api.goLive).toHaveBeenCalledWith({ camera: "synthetic", microphone: "synthetic", preset: "p720p30", video_kbps: 2500 });
  });

  it("device lists load once; Go Live waits for them; the first device is chosen; the hint shows the notes", async () => {
    const list = pending<ReturnType<typeof devices>>();
    const ctx = mount(reduce(initialState(), { type: "session/entered", me: me() }), { listDevices: () => list.promise });
    expect(button().disabled).toBe(true);
    expect(el<HTMLSelectElement>(root, "camera").options).toHaveLength(0);
    list.resolve({ ...devices(), notes: ["No camera found: a test pattern instead."] });
    await flush();
    expect(el<HTMLSelectElement>(root, "camera").value).toBe("synthetic");
    expect(el<HTMLSelectElement>(root, "microphone").value).toBe("synthetic");
    expect(button().disabled).toBe(false);
    expect(ctx.api.startPreview).toHaveBeenCalledWith("synthetic", "synthetic", "p720p30");
    // the preview started: the hint is cleared (as before: notes show until then)
    expect(text(root, "source-hint")).toBe("");
    screen!.unmount();
    screen = mountStudio(root, ctx);
    expect(ctx.api.listDevices).toHaveBeenCalledOnce();
  });

  it("a camera change is kept and restarts the preview; a failed preview says why", async () => {
    const ctx = mount(stateAfter(), { startPreview: (cam: string) => (cam === "/dev/video0" ? fail("device", "The camera is busy.") : Promise.resolve({ status: "ok" as const, data: null })) });
    await flush();
    const cam = el<HTMLSelectElement>(root, "camera");
    cam.value = "/dev/video0";
    cam.dispatchEvent(new Event("change"));
    await flush();
    expect(ctx.store.get().studio.form.camera).toBe("/dev/video0");
    expect(text(root, "source-hint")).toBe("The camera is busy.");
  });

  it("device lists that fail: the reason as the hint, Go Live unusable", async () => {
    mount(reduce(initialState(), { type: "session/entered", me: me() }), { listDevices: () => fail("device", "No video devices could be listed.") });
    await flush();
    expect(text(root, "source-hint")).toBe("No video devices could be listed.");
    expect(button().disabled).toBe(true);
  });
});

describe("Studio: Go Live and End", () => {
  it("Go Live sends the chosen sources and quality and starts a new viewer count", async () => {
    const ctx = mount(stateAfter({ type: "viewers/received", viewers: { active: 3, peak: 9, total: 9, connected: false } }));
    button().click();
    await flush();
    expect(ctx.api.goLive).toHaveBeenCalledWith({ camera: "synthetic", microphone: "synthetic", preset: "p720p30", video_kbps: 3000 });
    expect(text(root, "viewers-peak")).toBe("0");
  });

  it("a refused Go Live: Cannot go live, why, in the failed style; the next status replaces it", async () => {
    const ctx = mount(stateAfter(), { goLive: () => fail("bad_input", "The bitrate must be between 100 and 50000 kbps.") });
    button().click();
    await flush();
    expect(text(root, "status-title")).toBe("Cannot go live");
    expect(text(root, "status-detail")).toBe("The bitrate must be between 100 and 50000 kbps.");
    expect(el(root, "status").className).toBe("status card status-failed");
    ctx.store.dispatch(received(status("idle")));
    expect(text(root, "status-title")).toBe("Ready");
    expect(el(root, "status").className).toBe("status card status-idle");
  });

  it("Ctrl+L goes live (only when Go Live is the button); Ctrl+E asks, then ends", async () => {
    const ctx = mount();
    ctrl("l");
    await flush();
    expect(ctx.api.goLive).toHaveBeenCalledOnce();
    ctx.store.dispatch(received(status("connecting")));
    ctrl("l");
    ctrl("e");
    await flush();
    expect(ctx.api.goLive).toHaveBeenCalledOnce();
    expect(ctx.confirm).not.toHaveBeenCalled();
    ctx.store.dispatch(received(status("live")));
    ctrl("L");
    await flush();
    expect(ctx.api.goLive).toHaveBeenCalledOnce();
    ctx.answer.value = false;
    ctrl("e");
    await flush();
    expect(ctx.confirm).toHaveBeenLastCalledWith("End the class?", expect.any(String), "End broadcast", "confirm-end");
    expect(ctx.api.endLive).not.toHaveBeenCalled();
    ctx.answer.value = true;
    ctrl("E");
    await flush();
    expect(ctx.api.endLive).toHaveBeenCalledOnce();
  });

  it("Stop trying while reconnecting asks too; a failed End is a toast", async () => {
    const ctx = mount(stateAfter(received(status("reconnecting"))), { endLive: () => fail("busy", "Already ending.") });
    button().click();
    await flush();
    expect(ctx.confirm).toHaveBeenCalledOnce();
    expect(ctx.confirm).toHaveBeenLastCalledWith("Stop trying to reconnect?", expect.any(String), "Stop trying", "confirm-end");
    expect(ctx.toasts).toEqual(["Already ending."]);
  });

  it("shortcuts stop with the Studio", async () => {
    const ctx = mount();
    screen!.unmount();
    screen = null;
    ctrl("l");
    await flush();
    expect(ctx.api.goLive).not.toHaveBeenCalled();
  });

  it("back to the preview when a broadcast ends or fails (once, on the change)", async () => {
    const ctx = mount(stateAfter(received(status("live"))));
    await flush();
    vi.mocked(ctx.api.startPreview).mockClear();
    ctx.store.dispatch(received(status("ending")));
    await flush();
    expect(ctx.api.startPreview).not.toHaveBeenCalled();
    ctx.store.dispatch(received(status("ended")));
    await flush();
    expect(ctx.api.startPreview).toHaveBeenCalledOnce();
    ctx.store.dispatch(received(status("ended")));
    await flush();
    expect(ctx.api.startPreview).toHaveBeenCalledOnce();
  });

  it("no preview restart while a broadcast is on", async () => {
    const ctx = mount(stateAfter(received(status("live"))));
    await flush();
    expect(ctx.api.startPreview).not.toHaveBeenCalled();
  });
});

describe("Studio: the preview stream", () => {
  it("attaches a fresh URL; released (and the preview stopped) when the Studio goes, idle", async () => {
    const ctx = mount();
    await flush();
    const img = el<HTMLImageElement>(root, "preview");
    expect(img.src).toMatch(/^http:\/\/127\.0\.0\.1:1\/preview\/tok\?v=\d+$/);
    screen!.unmount();
    screen = null;
    expect(img.hasAttribute("src")).toBe(false);
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    expect(ctx.api.stopPreview).toHaveBeenCalledOnce();
  });

  it("released but not stopped when the Studio goes while live", async () => {
    const ctx = mount(stateAfter(received(status("live"))));
    await flush();
    screen!.unmount();
    screen = null;
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    expect(ctx.api.stopPreview).not.toHaveBeenCalled();
  });

  it("a hidden window releases the stream; shown again, a new URL", async () => {
    const ctx = mount();
    await flush();
    const img = el<HTMLImageElement>(root, "preview");
    const first = img.src;
    const hidden = vi.spyOn(document, "hidden", "get").mockReturnValue(true);
    document.dispatchEvent(new Event("visibilitychange"));
    expect(img.hasAttribute("src")).toBe(false);
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    hidden.mockReturnValue(false);
    document.dispatchEvent(new Event("visibilitychange"));
    await flush();
    expect(img.src).toMatch(/\?v=\d+$/);
    expect(img.src).not.toBe(first);
    hidden.mockRestore();
  });

  it("a frame shows the image", () => {
    mount();
    const img = el<HTMLImageElement>(root, "preview");
    expect(img.classList.contains("has-frame")).toBe(false);
    img.dispatchEvent(new Event("load"));
    expect(img.classList.contains("has-frame")).toBe(true);
  });
});

describe("Studio: the channel and its key", () => {
  it("loading, then the room, the ingest and the masked key", async () => {
    const ch = pending<ReturnType<typeof channel>>();
    mount(stateAfter(), { getChannel: () => ch.promise });
    expect(text(root, "channel")).toBe("Loading your channel…");
    ch.resolve(channel());
    await flush();
    expect(text(root, "channel-app")).toBe("room-abc");
    expect(text(root, "channel-ingest")).toBe("rtmp://ingest.example:1935/room-abc");
    expect(text(root, "stream-key")).toBe("sk_••••••••••••");
    expect(text(root, "reveal-key")).toBe("Reveal");
  });

  it("a channel that cannot load says why", async () => {
    mount(stateAfter(), { getChannel: () => fail("forbidden", "Only mentors have a channel.") });
    await flush();
    expect(text(root, "channel-error")).toBe("Only mentors have a channel.");
  });

  it("Reveal shows the key, Hide masks it and it leaves the page", async () => {
    mount();
    await flush();
    el(root, "reveal-key").click();
    await flush();
    expect(text(root, "stream-key")).toBe("sk_0123456789abcdefXYZ");
    expect(text(root, "reveal-key")).toBe("Hide");
    el(root, "reveal-key").click();
    expect(text(root, "stream-key")).toBe("sk_••••••••••••");
    expect(text(root, "reveal-key")).toBe("Reveal");
    expect(document.body.innerHTML).not.toContain("sk_0123456789abcdefXYZ");
  });

  it("the key is masked again on the next visit", async () => {
    const ctx = mount();
    await flush();
    el(root, "reveal-key").click();
    await flush();
    screen!.unmount();
    screen = mountStudio(root, ctx);
    await flush();
    expect(text(root, "stream-key")).toBe("sk_••••••••••••");
  });

  it("Copy puts the key on the clipboard and warns", async () => {
    const ctx = mount();
    await flush();
    el(root, "copy-key").click();
    await flush();
    expect(ctx.copyText).toHaveBeenCalledWith("sk_0123456789abcdefXYZ");
    expect(ctx.toasts[0]).toMatch(/^Stream key copied/);
    expect(text(root, "stream-key")).toBe("sk_••••••••••••");
  });

  it("New key asks first; confirmed, the new channel and a toast", async () => {
    const ctx = mount(stateAfter(), { rotateKey: () => Promise.resolve({ status: "ok" as const, data: channel({ key_masked: "sk_new•••" }) }) });
    await flush();
    ctx.answer.value = false;
    el(root, "new-key").click();
    await flush();
    expect(ctx.api.rotateKey).not.toHaveBeenCalled();
    ctx.answer.value = true;
    el(root, "new-key").click();
    await flush();
    expect(ctx.confirm).toHaveBeenLastCalledWith("Issue a new stream key?", expect.any(String), "Issue new key");
    expect(text(root, "stream-key")).toBe("sk_new•••");
    expect(ctx.toasts).toEqual(["New stream key issued."]);
  });
});
