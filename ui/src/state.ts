// Pure mapping from the app's DTOs to what the screens show: tested with Vitest.
import { PRESETS } from "./bindings";
import type { BroadcastStatus, Level, MicLevel, UiError, SignInStepDto, RecordingView, SessionPhase, PresetId, Preset } from "./bindings";

/** Rust's f64 arrives as null when it is not finite: read it as 0. */
export function num(x: number | null | undefined): number {
  return typeof x === "number" && Number.isFinite(x) ? x : 0;
}

/** A case a `switch` over a union cannot reach (the compiler checks it). */
export function unreachable(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}

/** "1:05:09" or "4:07" for a recording's length. (The live clock comes formatted from Rust: `elapsed_text`.) */
export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const p = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${p(m)}:${p(r)}` : `${m}:${p(r)}`;
}

export function formatDate(unixSecs: number, locale = "en-GB"): string {
  return new Date(unixSecs * 1000).toLocaleString(locale, { dateStyle: "medium", timeStyle: "short" });
}

/** CSS class of a health level: good (green), warning (yellow), danger (red), or none yet. */
export function levelClass(level: Level | null): string {
  return level ? `level-${level}` : "level-none";
}

/** The presets the app offers (Rust's table, largest first). */
export const PRESET_LIST: readonly Preset[] = PRESETS;

/** The preset selected before the mentor picks one (an id of Rust's table; its sizes and bitrate come from there). */
export const DEFAULT_PRESET: PresetId = "p720p30";

export function presetById(id: PresetId): Preset {
  const p = PRESET_LIST.find((x) => x.id === id);
  if (!p) throw new Error(`unknown preset ${id}`);
  return p;
}

/** A broadcast is under way (connecting, on air, retrying or closing): sources and quality are fixed. */
export function broadcastActive(phase: SessionPhase): boolean {
  switch (phase) {
    case "connecting":
    case "live":
    case "reconnecting":
    case "ending":
      return true;
    case "idle":
    case "ended":
    case "failed":
      return false;
    default:
      return unreachable(phase);
  }
}

/** What the main button does in a phase. */
export type ButtonMode = "go-live" | "end" | "busy";
export function buttonMode(phase: SessionPhase): ButtonMode {
  switch (phase) {
    case "live":
    case "reconnecting":
      return "end";
    case "connecting":
    case "ending":
      return "busy";
    case "idle":
    case "ended":
    case "failed":
      return "go-live";
    default:
      return unreachable(phase);
  }
}

/** The main button's label and look in a phase. */
export function mainButton(phase: SessionPhase): { mode: ButtonMode; text: string; cls: string } {
  const mode = buttonMode(phase);
  switch (mode) {
    case "end":
      // While reconnecting, ending is giving up on the network: say so.
      return { mode, text: phase === "reconnecting" ? "Stop trying" : "End", cls: "danger big" };
    case "busy":
      return { mode, text: phase === "ending" ? "Ending…" : "Connecting…", cls: "primary big" };
    case "go-live":
      return { mode, text: "Go Live", cls: "primary big" };
    default:
      return unreachable(mode);
  }
}

/** Badge over the preview. */
export function badge(s: Pick<BroadcastStatus, "state" | "elapsed_text">): { text: string; cls: string } {
  switch (s.state) {
    case "live":
      return { text: `LIVE ${s.elapsed_text}`, cls: "badge-live" };
    case "connecting":
      return { text: "CONNECTING", cls: "badge-wait" };
    case "reconnecting":
      return { text: "RECONNECTING", cls: "badge-warn" };
    case "ending":
      return { text: "ENDING", cls: "badge-wait" };
    case "failed":
      return { text: "NOT LIVE", cls: "badge-error" };
    case "idle":
    case "ended":
      return { text: "PREVIEW", cls: "badge-idle" };
    default:
      return unreachable(s.state);
  }
}

/** Meter width 0..1 from dBFS over a −60..0 dB scale; null (silence) is 0. */
export function meterFraction(dbfs: number | null): number {
  if (dbfs === null || !Number.isFinite(dbfs)) return 0;
  return Math.min(1, Math.max(0, (dbfs + 60) / 60));
}

/** Meter colour: green, yellow above −20 dBFS, red above −6 (clipping risk). */
export function meterClass(level: MicLevel): string {
  const p = level.peak_dbfs;
  if (p === null) return "meter-silent";
  if (p > -6) return "meter-hot";
  if (p > -20) return "meter-warm";
  return "meter-ok";
}

/** Which sign-in view to show after a step. */
export type SignInView = "credentials" | "new-password" | "mfa" | "done";
export function viewForStep(step: SignInStepDto): SignInView {
  switch (step.step) {
    case "signed_in":
      return "done";
    case "new_password_required":
      return "new-password";
    case "mfa_required":
      return "mfa";
  }
}

/** An error from a command as one sentence (commands reject with UiError). */
export function errorText(e: unknown): string {
  if (e && typeof e === "object" && "message" in e && typeof (e as UiError).message === "string") return (e as UiError).message;
  if (typeof e === "string") return e;
  return "Something went wrong.";
}

export function viewersText(active: number, peak: number): string {
  return `${active} watching · peak ${peak}`;
}

/** kbps as "2.9 Mb/s" or "640 kb/s". */
export function formatKbps(kbps: number): string {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mb/s` : `${Math.round(kbps)} kb/s`;
}

export function recordingSubtitle(r: RecordingView): string {
  return `${formatDuration(num(r.duration_s))} · ${r.viewers_total} viewers (peak ${r.viewers_peak})`;
}
