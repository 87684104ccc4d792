import { describe, expect, it } from "vitest";
import { badge, buttonMode, errorText, formatDuration, formatElapsed, formatKbps, levelClass, meterClass, meterFraction, viewForStep } from "./state";
import type { BroadcastStatus } from "./bindings";

const status = (state: string, elapsed_s = 0): BroadcastStatus => ({
  state, title: "", detail: "", elapsed_s, destination: null,
  health: { fps: 0, target_fps: 30, fps_level: null, video_kbps: 0, audio_kbps: 0, target_kbps: 3000, frames_sent: 0, frames_dropped: 0, dropped_pct: 0, dropped_level: null, queue_delay_ms: 0, bitrate_history: [] },
});

describe("state mapping", () => {
  it("formats the live clock like a broadcaster", () => {
    expect(formatElapsed(754.9)).toBe("00:12:34");
    expect(formatElapsed(-3)).toBe("00:00:00");
    expect(formatDuration(65)).toBe("1:05");
    expect(formatDuration(3909)).toBe("1:05:09");
  });

  it("maps engine states to the main button", () => {
    expect(buttonMode("idle")).toBe("go-live");
    expect(buttonMode("failed")).toBe("go-live");
    expect(buttonMode("ended")).toBe("go-live");
    expect(buttonMode("connecting")).toBe("busy");
    expect(buttonMode("live")).toBe("end");
    expect(buttonMode("reconnecting")).toBe("end");
  });

  it("shows a live badge with the clock", () => {
    expect(badge(status("live", 61))).toEqual({ text: "LIVE 00:01:01", cls: "badge-live" });
    expect(badge(status("reconnecting")).cls).toBe("badge-warn");
    expect(badge(status("idle")).text).toBe("PREVIEW");
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
