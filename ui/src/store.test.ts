import { describe, expect, it } from "vitest";
import { PRESETS } from "./bindings";
import { NO_VIEWERS, Store, initialState, phaseOf, reduce, sourcesReady } from "./store";
import type { Action, ActionType, AppState } from "./store";
import { appInfo, channel, connectionReport, devices, localCopy, me, recording, settingsView, status } from "./testing";

/** One example of every action (the compiler checks that none is missing). */
const EXAMPLES: { [K in ActionType]: Extract<Action, { type: K }> } = {
  "session/entered": { type: "session/entered", me: me() },
  "session/signed-out": { type: "session/signed-out", notice: "Signed out." },
  "tab/selected": { type: "tab/selected", tab: "recordings" },
  "signin/submitted": { type: "signin/submitted" },
  "signin/step": { type: "signin/step", step: { step: "mfa_required" } },
  "signin/failed": { type: "signin/failed", message: "Wrong username or password.", kind: "wrong_credentials" },
  "signin/invalid": { type: "signin/invalid", message: "The two passwords differ." },
  "signin/back": { type: "signin/back" },
  "status/received": { type: "status/received", status: status("live") },
  "mic/level": { type: "mic/level", level: { peak_dbfs: -12, rms_dbfs: -20 } },
  "viewers/received": { type: "viewers/received", viewers: { active: 3, peak: 4, total: 9, connected: true } },
  "devices/loaded": { type: "devices/loaded", devices: devices() },
  "devices/failed": { type: "devices/failed", message: "No camera." },
  "sources/selected": { type: "sources/selected", camera: "/dev/video0" },
  "preset/selected": { type: "preset/selected", preset: "p1080p30" },
  "bitrate/changed": { type: "bitrate/changed", kbps: 2500 },
  "conntest/started": { type: "conntest/started" },
  "conntest/done": { type: "conntest/done", report: connectionReport() },
  "conntest/failed": { type: "conntest/failed", message: "The connection test failed: refused." },
  "conntest/applied": { type: "conntest/applied" },
  "preview/started": { type: "preview/started" },
  "preview/failed": { type: "preview/failed", message: "Camera busy." },
  "golive/requested": { type: "golive/requested" },
  "golive/failed": { type: "golive/failed", message: "No network." },
  "channel/loading": { type: "channel/loading" },
  "channel/loaded": { type: "channel/loaded", channel: channel() },
  "channel/failed": { type: "channel/failed", message: "Forbidden." },
  "key/revealed": { type: "key/revealed", key: "sk_secret" },
  "key/hidden": { type: "key/hidden" },
  "recordings/loading": { type: "recordings/loading" },
  "recordings/loaded": { type: "recordings/loaded", items: [recording(1)] },
  "recordings/failed": { type: "recordings/failed", message: "Offline." },
  "recordings/selected": { type: "recordings/selected", id: 1 },
  "local/loaded": { type: "local/loaded", items: [localCopy()] },
  "local/failed": { type: "local/failed", message: "Cannot read the folder." },
  "settings/loading": { type: "settings/loading" },
  "settings/loaded": { type: "settings/loaded", settings: settingsView(), info: appInfo() },
  "settings/failed": { type: "settings/failed", message: "Unreadable." },
  "settings/saved": { type: "settings/saved", settings: settingsView({ ingest_override_url: "rtmp://x/app" }) },
  "settings/save-failed": { type: "settings/save-failed", message: "Bad URL." },
};

const S0 = initialState();
const run = (s: AppState, ...actions: Action[]) => actions.reduce(reduce, s);
const signedIn = run(S0, { type: "session/entered", me: me() });
const withDevices = run(signedIn, { type: "devices/loaded", devices: devices() });

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

describe("reduce: purity", () => {
  it("never changes the state it is given (every action, from a filled-in state)", () => {
    const full = deepFreeze(
      run(
        withDevices,
        EXAMPLES["status/received"],
        EXAMPLES["channel/loaded"],
        EXAMPLES["key/revealed"],
        EXAMPLES["recordings/loaded"],
        EXAMPLES["recordings/selected"],
        EXAMPLES["settings/loaded"],
        { type: "signin/step", step: { step: "new_password_required", rules: "10 characters" } },
      ),
    );
    for (const a of Object.values(EXAMPLES)) expect(() => reduce(full, a)).not.toThrow();
    expect(() => reduce(deepFreeze(initialState()), EXAMPLES["settings/saved"])).not.toThrow();
  });

  it("starts signed out of nothing, on the Studio, idle, with Rust's default bitrate for the default preset", () => {
    expect(S0.session.phase).toBe("starting");
    expect(S0.tab).toBe("studio");
    expect(phaseOf(S0)).toBe("idle");
    expect(S0.studio.form.preset).toBe("p720p30");
    expect(S0.studio.form.videoKbps).toBe(PRESETS.find((p) => p.id === "p720p30")!.default_kbps);
  });
});

describe("reduce: session and sign-in", () => {
  it("session/entered: signed in, the form reset", () => {
    const s = run(S0, { type: "signin/failed", message: "x", kind: null }, EXAMPLES["session/entered"]);
    expect(s.session).toEqual({ phase: "signed-in", me: me() });
    expect(s.signIn).toEqual({ stage: { view: "credentials" }, busy: false, error: "", notice: "" });
  });

  it("session/signed-out: the account's data goes, the broadcast, devices, form and tab stay", () => {
    const busy = run(
      withDevices,
      EXAMPLES["status/received"],
      EXAMPLES["channel/loaded"],
      EXAMPLES["key/revealed"],
      EXAMPLES["recordings/loaded"],
      EXAMPLES["settings/loaded"],
      EXAMPLES["preset/selected"],
      { type: "tab/selected", tab: "settings" },
    );
    const s = reduce(busy, { type: "session/signed-out", notice: "Signed out." });
    expect(s.session).toEqual({ phase: "signed-out" });
    expect(s.signIn).toEqual({ stage: { view: "credentials" }, busy: false, error: "", notice: "Signed out." });
    expect(s.studio.channel).toEqual({ status: "idle" });
    expect(s.studio.revealedKey).toBeNull();
    expect(s.recordings).toEqual(S0.recordings);
    expect(s.settings).toEqual(S0.settings);
    expect(s.broadcast).toBe(busy.broadcast);
    expect(s.studio.devices).toBe(busy.studio.devices);
    expect(s.studio.form.preset).toBe("p1080p30");
    expect(s.tab).toBe("settings");
    expect(reduce(S0, { type: "session/signed-out", error: "Backend unreachable." }).signIn.error).toBe("Backend unreachable.");
  });

  it("tab/selected: the tab (the same state when it is already shown)", () => {
    expect(reduce(S0, EXAMPLES["tab/selected"]).tab).toBe("recordings");
    expect(reduce(S0, { type: "tab/selected", tab: "studio" })).toBe(S0);
  });

  it("signin/submitted: busy, the last error and notice cleared, same view", () => {
    const s = run(S0, { type: "session/signed-out", notice: "Signed out.", error: "old" }, EXAMPLES["signin/submitted"]);
    expect(s.signIn).toEqual({ stage: { view: "credentials" }, busy: true, error: "", notice: "" });
  });

  it("signin/step: to the new-password view with the pool's rules, to MFA, or signed in", () => {
    const busy = run(S0, EXAMPLES["signin/submitted"]);
    const np = reduce(busy, { type: "signin/step", step: { step: "new_password_required", rules: "At least 10 characters." } });
    expect(np.signIn).toMatchObject({ stage: { view: "new-password", rules: "At least 10 characters." }, busy: false, error: "" });
    const mfa = reduce(busy, EXAMPLES["signin/step"]);
    expect(mfa.signIn).toMatchObject({ stage: { view: "mfa" }, busy: false });
    const done = reduce(mfa, { type: "signin/step", step: { step: "signed_in", me: me("mfamentor") } });
    expect(done.session).toEqual({ phase: "signed-in", me: me("mfamentor") });
    expect(done.signIn.stage).toEqual({ view: "credentials" });
  });

  it("signin/failed: the message; a challenge that expired goes back to the credentials", () => {
    const cred = run(S0, EXAMPLES["signin/submitted"], EXAMPLES["signin/failed"]);
    expect(cred.signIn).toEqual({ stage: { view: "credentials" }, busy: false, error: "Wrong username or password.", notice: "" });
    const mfa = run(S0, EXAMPLES["signin/step"], EXAMPLES["signin/submitted"]);
    const wrong = reduce(mfa, { type: "signin/failed", message: "Wrong MFA code.", kind: "wrong_mfa_code" });
    expect(wrong.signIn).toMatchObject({ stage: { view: "mfa" }, busy: false, error: "Wrong MFA code." });
    const expired = reduce(mfa, { type: "signin/failed", message: "The sign-in expired: sign in again.", kind: "signed_out" });
    expect(expired.signIn).toMatchObject({ stage: { view: "credentials" }, busy: false, error: "The sign-in expired: sign in again." });
    // at the credentials, signed_out is just a message
    expect(reduce(S0, { type: "signin/failed", message: "m", kind: "signed_out" }).signIn.stage).toBe(S0.signIn.stage);
  });

  it("signin/invalid: a message, same view, nothing sent", () => {
    const np = run(S0, { type: "signin/step", step: { step: "new_password_required", rules: "r" } });
    const s = reduce(np, EXAMPLES["signin/invalid"]);
    expect(s.signIn.error).toBe("The two passwords differ.");
    expect(s.signIn.stage).toBe(np.signIn.stage);
    expect(s.signIn.busy).toBe(false);
  });

  it("signin/back: the credentials, without the challenge's error", () => {
    const s = run(S0, EXAMPLES["signin/step"], { type: "signin/failed", message: "Wrong MFA code.", kind: "wrong_mfa_code" }, EXAMPLES["signin/back"]);
    expect(s.signIn).toMatchObject({ stage: { view: "credentials" }, error: "", busy: false });
  });
});

describe("reduce: Rust's events", () => {
  it("status/received: the status, and a refused Go Live is forgotten", () => {
    const s = run(signedIn, EXAMPLES["golive/failed"], EXAMPLES["status/received"]);
    expect(s.broadcast.status).toEqual(status("live"));
    expect(s.broadcast.goLiveError).toBeNull();
    expect(phaseOf(s)).toBe("live");
  });

  it("mic/level and viewers/received: kept as sent", () => {
    expect(reduce(S0, EXAMPLES["mic/level"]).broadcast.mic).toEqual({ peak_dbfs: -12, rms_dbfs: -20 });
    expect(reduce(S0, EXAMPLES["viewers/received"]).broadcast.viewers).toEqual({ active: 3, peak: 4, total: 9, connected: true });
  });
});

describe("reduce: the Studio", () => {
  it("devices/loaded: the lists, their notes as the hint, the first of each chosen", () => {
    const s = reduce(S0, { type: "devices/loaded", devices: { ...devices(), notes: ["No camera found.", "Using the test pattern."] } });
    expect(s.studio.devices).toMatchObject({ status: "ready" });
    expect(s.studio.form).toMatchObject({ camera: "synthetic", microphone: "synthetic" });
    expect(s.studio.hint).toBe("No camera found. Using the test pattern.");
    expect(sourcesReady(s)).toBe(true);
  });

  it("devices/loaded: a choice still listed is kept, a gone one falls back; empty lists choose nothing", () => {
    const chose = run(withDevices, { type: "sources/selected", camera: "/dev/video0", microphone: "default" });
    const again = reduce(chose, { type: "devices/loaded", devices: { ...devices(), microphones: [{ id: "synthetic", label: "Tone" }] } });
    expect(again.studio.form).toMatchObject({ camera: "/dev/video0", microphone: "synthetic" });
    const none = reduce(S0, { type: "devices/loaded", devices: { cameras: [], microphones: [{ id: "default", label: "Mic" }], notes: [] } });
    expect(none.studio.form.camera).toBeNull();
    expect(sourcesReady(none)).toBe(false);
  });

  it("devices/failed: the reason, as the hint; Go Live cannot be used", () => {
    const s = reduce(S0, EXAMPLES["devices/failed"]);
    expect(s.studio.devices).toEqual({ status: "error", message: "No camera." });
    expect(s.studio.hint).toBe("No camera.");
    expect(sourcesReady(s)).toBe(false);
  });

  it("sources/selected: the camera or the microphone, the other kept", () => {
    const cam = reduce(withDevices, EXAMPLES["sources/selected"]);
    expect(cam.studio.form).toMatchObject({ camera: "/dev/video0", microphone: "synthetic" });
    const m = reduce(cam, { type: "sources/selected", microphone: "default" });
    expect(m.studio.form).toMatchObject({ camera: "/dev/video0", microphone: "default" });
  });

  it("preset/selected: the preset and its default bitrate from Rust's table", () => {
    for (const p of PRESETS) {
      const s = run(S0, { type: "bitrate/changed", kbps: 1234 }, { type: "preset/selected", preset: p.id });
      expect(s.studio.form).toMatchObject({ preset: p.id, videoKbps: p.default_kbps });
    }
  });

  it("bitrate/changed: the number (the same state when unchanged)", () => {
    const s = reduce(S0, EXAMPLES["bitrate/changed"]);
    expect(s.studio.form.videoKbps).toBe(2500);
    expect(s.studio.form.preset).toBe(S0.studio.form.preset);
    expect(reduce(s, EXAMPLES["bitrate/changed"])).toBe(s);
  });

  it("preview/started clears the hint; preview/failed shows why", () => {
    const failed = reduce(withDevices, EXAMPLES["preview/failed"]);
    expect(failed.studio.hint).toBe("Camera busy.");
    expect(reduce(failed, EXAMPLES["preview/started"]).studio.hint).toBe("");
    const clean = reduce(failed, EXAMPLES["preview/started"]);
    expect(reduce(clean, EXAMPLES["preview/started"])).toBe(clean);
  });

  it("golive/requested: a new count of viewers, no old refusal; golive/failed: the refusal", () => {
    const s = run(signedIn, EXAMPLES["viewers/received"], EXAMPLES["golive/failed"]);
    expect(s.broadcast.goLiveError).toBe("No network.");
    const again = reduce(s, EXAMPLES["golive/requested"]);
    expect(again.broadcast.viewers).toEqual(NO_VIEWERS);
    expect(again.broadcast.goLiveError).toBeNull();
  });

  it("conntest/*: testing, its report or why not; applied: the best recommendation goes into the form", () => {
    const testing = reduce(withDevices, EXAMPLES["conntest/started"]);
    expect(testing.studio.connectionTest).toEqual({ status: "loading" });
    expect(reduce(testing, EXAMPLES["conntest/applied"])).toBe(testing);
    const done = reduce(testing, EXAMPLES["conntest/done"]);
    expect(done.studio.connectionTest).toEqual({ status: "ready", data: connectionReport() });
    expect(reduce(done, EXAMPLES["conntest/applied"]).studio.form).toEqual({ ...done.studio.form, preset: "p1080p30", videoKbps: 4500 });
    expect(reduce(testing, EXAMPLES["conntest/failed"]).studio.connectionTest).toEqual({ status: "error", message: "The connection test failed: refused." });
    const none = reduce(testing, { type: "conntest/done", report: connectionReport({ recommendations: [] }) });
    expect(reduce(none, EXAMPLES["conntest/applied"])).toBe(none);
    expect(reduce(done, EXAMPLES["session/signed-out"]).studio.connectionTest).toEqual({ status: "idle" });
  });

  it("channel/loading, channel/loaded, channel/failed: each masks the key again", () => {
    const revealed = run(signedIn, EXAMPLES["channel/loaded"], EXAMPLES["key/revealed"]);
    expect(revealed.studio.revealedKey).toBe("sk_secret");
    expect(reduce(revealed, EXAMPLES["channel/loading"]).studio).toMatchObject({ channel: { status: "loading" }, revealedKey: null });
    const rotated = reduce(revealed, { type: "channel/loaded", channel: channel({ key_masked: "sk_new" }) });
    expect(rotated.studio).toMatchObject({ channel: { status: "ready", data: { key_masked: "sk_new" } }, revealedKey: null });
    expect(reduce(revealed, EXAMPLES["channel/failed"]).studio).toMatchObject({ channel: { status: "error", message: "Forbidden." }, revealedKey: null });
  });

  it("key/revealed and key/hidden", () => {
    const s = run(signedIn, EXAMPLES["channel/loaded"], EXAMPLES["key/revealed"]);
    expect(s.studio.revealedKey).toBe("sk_secret");
    expect(reduce(s, EXAMPLES["key/hidden"]).studio.revealedKey).toBeNull();
  });
});

describe("reduce: Recordings", () => {
  const listed = run(signedIn, EXAMPLES["recordings/loading"], { type: "recordings/loaded", items: [recording(1), recording(2)] });

  it("recordings/loading: loading, nothing in the player", () => {
    const sel = reduce(listed, EXAMPLES["recordings/selected"]);
    expect(reduce(sel, EXAMPLES["recordings/loading"]).recordings).toEqual({ list: { status: "loading" }, selected: null, local: { status: "idle" } });
  });

  it("recordings/loaded and recordings/failed", () => {
    expect(listed.recordings.list).toEqual({ status: "ready", data: [recording(1), recording(2)] });
    expect(reduce(listed, EXAMPLES["recordings/failed"]).recordings).toEqual({ list: { status: "error", message: "Offline." }, selected: null, local: { status: "idle" } });
  });

  it("local/loaded and local/failed: the local copies, apart from the platform's list", () => {
    const local = reduce(listed, EXAMPLES["local/loaded"]);
    expect(local.recordings.local).toEqual({ status: "ready", data: [localCopy()] });
    expect(local.recordings.list).toBe(listed.recordings.list);
    expect(reduce(local, EXAMPLES["recordings/loading"]).recordings.local).toBe(local.recordings.local);
    expect(reduce(local, EXAMPLES["local/failed"]).recordings.local).toEqual({ status: "error", message: "Cannot read the folder." });
  });

  it("recordings/selected: only a recording of the list", () => {
    expect(reduce(listed, { type: "recordings/selected", id: 2 }).recordings.selected).toBe(2);
    expect(reduce(listed, { type: "recordings/selected", id: 99 })).toBe(listed);
    expect(reduce(S0, EXAMPLES["recordings/selected"])).toBe(S0);
  });
});

describe("reduce: Settings", () => {
  const loaded = run(signedIn, EXAMPLES["settings/loading"], EXAMPLES["settings/loaded"]);

  it("settings/loading, settings/loaded, settings/failed: each clears the last message", () => {
    const saved = reduce(loaded, EXAMPLES["settings/saved"]);
    expect(reduce(saved, EXAMPLES["settings/loading"]).settings).toEqual({ load: { status: "loading" }, message: "" });
    expect(loaded.settings).toEqual({ load: { status: "ready", data: { settings: settingsView(), info: appInfo() } }, message: "" });
    expect(reduce(saved, EXAMPLES["settings/failed"]).settings).toEqual({ load: { status: "error", message: "Unreadable." }, message: "" });
  });

  it("settings/saved: the new settings (same app info) and Saved.; ignored before they are loaded", () => {
    const s = reduce(loaded, EXAMPLES["settings/saved"]);
    expect(s.settings.message).toBe("Saved.");
    expect(s.settings.load).toMatchObject({ status: "ready", data: { settings: { ingest_override_url: "rtmp://x/app" } } });
    expect(s.settings.load.status === "ready" && loaded.settings.load.status === "ready" && s.settings.load.data.info).toBe(loaded.settings.load.status === "ready" && loaded.settings.load.data.info);
    expect(reduce(S0, EXAMPLES["settings/saved"])).toBe(S0);
  });

  it("settings/save-failed: the reason, the settings kept", () => {
    const s = reduce(loaded, EXAMPLES["settings/save-failed"]);
    expect(s.settings.message).toBe("Bad URL.");
    expect(s.settings.load).toBe(loaded.settings.load);
  });
});

describe("Store", () => {
  it("tells subscribers the new and the previous state; nothing when the state stays the same", () => {
    const store = new Store();
    const seen: [string, string][] = [];
    store.subscribe((s, prev) => seen.push([prev.tab, s.tab]));
    store.dispatch({ type: "tab/selected", tab: "settings" });
    store.dispatch({ type: "tab/selected", tab: "settings" });
    expect(seen).toEqual([["studio", "settings"]]);
    expect(store.get().tab).toBe("settings");
  });

  it("runs an action dispatched by a subscriber after the current one, in order", () => {
    const store = new Store();
    const order: string[] = [];
    store.subscribe((s, prev) => {
      order.push(`a:${s.tab}`);
      if (s.tab === "recordings" && prev.tab === "studio") store.dispatch({ type: "tab/selected", tab: "settings" });
    });
    store.subscribe((s) => order.push(`b:${s.tab}`));
    store.dispatch({ type: "tab/selected", tab: "recordings" });
    expect(order).toEqual(["a:recordings", "b:recordings", "a:settings", "b:settings"]);
  });

  it("does not call a subscriber removed during the round; a failing one does not stop the others", () => {
    const errors: [unknown, string][] = [];
    const store = new Store(initialState(), reduce, (e, a) => errors.push([e, a.type]));
    const calls: string[] = [];
    let offB = () => undefined as void;
    store.subscribe(() => {
      calls.push("a");
      offB();
    });
    offB = store.subscribe(() => calls.push("b"));
    store.subscribe(() => {
      throw new Error("boom");
    });
    store.subscribe(() => calls.push("d"));
    store.dispatch({ type: "tab/selected", tab: "settings" });
    expect(calls).toEqual(["a", "d"]);
    expect(errors).toEqual([[new Error("boom"), "tab/selected"]]);
    store.dispatch({ type: "tab/selected", tab: "studio" }); // still usable
    expect(store.get().tab).toBe("studio");
  });
});
