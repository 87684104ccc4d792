import { describe, expect, it } from "vitest";
import { BITRATE_LIMITS, PRESETS } from "./bindings";
import type { SessionPhase } from "./bindings";
import * as state from "./state";
import { DEFAULT_PRESET, PRESET_LIST, badge, broadcastActive, buttonMode, errorText, formatDuration, formatKbps, levelClass, mainButton, meterClass, meterFraction, presetById, viewForStep } from "./state";
import { status } from "./testing";

const PHASES: SessionPhase[] = ["idle", "connecting", "live", "reconnecting", "ending", "ended", "failed"];

describe("state mapping", () => {
  it("formats a recording's length; the live clock is Rust's (no formatter here)", () => {
    expect(formatDuration(65)).toBe("1:05");
    expect(formatDuration(3909)).toBe("1:05:09");
    expect(formatDuration(-3)).toBe("0:00");
    expect("formatElapsed" in state).toBe(false);
  });

  it("maps each phase to the main button", () => {
    const modes = PHASES.map((p) => [p, buttonMode(p)]);
    expect(Object.fromEntries(modes)).toEqual({ idle: "go-live", connecting: "busy", live: "end", reconnecting: "end", ending: "busy", ended: "go-live", failed: "go-live" });
    expect(mainButton("ending")).toEqual({ mode: "busy", text: "Ending…", cls: "primary big" });
    expect(mainButton("connecting").text).toBe("Connecting…");
    expect(mainButton("reconnecting")).toEqual({ mode: "end", text: "Stop trying", cls: "danger big" });
    expect(mainButton("live").text).toBe("End");
    expect(mainButton("failed")).toEqual({ mode: "go-live", text: "Go Live", cls: "primary big" });
  });

  it("knows when a broadcast is under way", () => {
    expect(PHASES.filter(broadcastActive)).toEqual(["connecting", "live", "reconnecting", "ending"]);
  });

  it("shows a live badge with Rust's clock", () => {
    expect(badge(status("live", { elapsed_s: 61, elapsed_text: "00:01:01" }))).toEqual({ text: "LIVE 00:01:01", cls: "badge-live" });
    expect(badge(status("live", { elapsed_s: 61, elapsed_text: "01:02:03" })).text).toBe("LIVE 01:02:03");
    expect(badge(status("reconnecting")).cls).toBe("badge-warn");
    expect(badge(status("idle")).text).toBe("PREVIEW");
    expect(badge(status("failed"))).toEqual({ text: "NOT LIVE", cls: "badge-error" });
  });

  it("takes the presets from Rust's table", () => {
    expect(PRESET_LIST).toBe(PRESETS);
    expect(PRESET_LIST.map((p) => p.id)).toContain(DEFAULT_PRESET);
    expect(presetById("p1080p30").default_kbps).toBe(PRESETS[0].default_kbps);
    expect(() => presetById("nope" as never)).toThrow();
    // every default bitrate is one the bitrate field accepts
    for (const p of PRESET_LIST) expect(p.default_kbps).toBeGreaterThanOrEqual(BITRATE_LIMITS.min_video_kbps);
  });

  it("uses OBS-like colours for health levels", () => {
    expect(levelClass("good")).toBe("level-good");
    expect(levelClass("warning")).toBe("level-warning");
    expect(levelClass("danger")).toBe("level-danger");
    expect(levelClass(null)).toBe("level-none");
  });

  it("scales the mic meter over -60..0 dBFS", () => {
    expect(meterFraction(null)).toBe(0);
    expect(meterFraction(-60)).toBe(0);
    expect(meterFraction(-30)).toBeCloseTo(0.5);
    expect(meterFraction(3)).toBe(1);
    expect(meterClass({ peak_dbfs: -3, rms_dbfs: -10 })).toBe("meter-hot");
    expect(meterClass({ peak_dbfs: -12, rms_dbfs: -20 })).toBe("meter-warm");
    expect(meterClass({ peak_dbfs: -40, rms_dbfs: -50 })).toBe("meter-ok");
    expect(meterClass({ peak_dbfs: null, rms_dbfs: null })).toBe("meter-silent");
  });

  it("routes sign-in steps to their views", () => {
    expect(viewForStep({ step: "mfa_required" })).toBe("mfa");
    expect(viewForStep({ step: "new_password_required", rules: "x" })).toBe("new-password");
    expect(viewForStep({ step: "signed_in", me: { username: "m", email: null, groups: [], is_mentor: true, token_store: "k" } })).toBe("done");
  });

  it("shows command errors as their sentence", () => {
    expect(errorText({ kind: "wrong_credentials", message: "Wrong username or password." })).toBe("Wrong username or password.");
    expect(errorText("plain")).toBe("plain");
    expect(errorText(42)).toBe("Something went wrong.");
    expect(formatKbps(2950)).toBe("3.0 Mb/s");
    expect(formatKbps(640)).toBe("640 kb/s");
  });
});
