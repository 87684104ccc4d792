// The app's state as one typed object, changed only by `reduce` (a pure function of the
// state and an action). Actions come from Rust's events (status, mic level, viewers), from
// the user and from command results; screens subscribe and render from the state.
import type {
  AppInfo,
  BroadcastStatus,
  ChannelView,
  ConnectionReport,
  DeviceList,
  ErrorKindDto,
  LocalCopyView,
  Me,
  MicLevel,
  PresetId,
  RecordingView,
  SessionPhase,
  SettingsView,
  SignInStepDto,
  ViewerCountView,
} from "./bindings";
import { DEFAULT_PRESET, presetById, unreachable } from "./state";

/** Something asked for: not yet, under way, in, or failed (with the sentence to show). */
export type Loadable<T> = { status: "idle" } | { status: "loading" } | { status: "ready"; data: T } | { status: "error"; message: string };

export type Tab = "studio" | "recordings" | "settings";

export type Session = { phase: "starting" } | { phase: "signed-out" } | { phase: "signed-in"; me: Me };

export type SignInStage = { view: "credentials" } | { view: "new-password"; rules: string } | { view: "mfa" };

export interface SignInState {
  stage: SignInStage;
  /** A request is under way: the form is disabled. */
  busy: boolean;
  /** Why the form is shown again (a failure); "" for none. */
  error: string;
  /** What just happened (e.g. "Signed out."); "" for none. */
  notice: string;
}

/** The broadcast as Rust reports it (app-wide: it goes on while another tab is shown). */
export interface BroadcastState {
  /** The last status from Rust; null until the first one. */
  status: BroadcastStatus | null;
  /** Go Live was refused before the broadcast started (cleared by the next status). */
  goLiveError: string | null;
  mic: MicLevel | null;
  viewers: ViewerCountView;
}

/** What Go Live sends. */
export interface StudioForm {
  camera: string | null;
  microphone: string | null;
  preset: PresetId;
  videoKbps: number;
}

export interface StudioState {
  devices: Loadable<DeviceList>;
  form: StudioForm;
  /** Under the source pickers: device notes, or why the preview failed. */
  hint: string;
  channel: Loadable<ChannelView>;
  /** The stream key in clear while Reveal is on; null when masked. */
  revealedKey: string | null;
  /** Test connection: idle until asked, then its report (or why it failed). */
  connectionTest: Loadable<ConnectionReport>;
}

export interface RecordingsState {
  list: Loadable<RecordingView[]>;
  /** The recording in the player. */
  selected: number | null;
  /** The local copies ("On this computer"). */
  local: Loadable<LocalCopyView[]>;
}

export interface SettingsState {
  load: Loadable<{ settings: SettingsView; info: AppInfo }>;
  /** After Save: "Saved." or why not. */
  message: string;
}

export interface AppState {
  session: Session;
  tab: Tab;
  signIn: SignInState;
  broadcast: BroadcastState;
  studio: StudioState;
  recordings: RecordingsState;
  settings: SettingsState;
}

export type Action =
  // session and shell
  | { type: "session/entered"; me: Me }
  | { type: "session/signed-out"; notice?: string; error?: string }
  | { type: "tab/selected"; tab: Tab }
  // the sign-in form
  | { type: "signin/submitted" }
  | { type: "signin/step"; step: SignInStepDto }
  | { type: "signin/failed"; message: string; kind: ErrorKindDto | null }
  | { type: "signin/invalid"; message: string }
  | { type: "signin/back" }
  // Rust's events
  | { type: "status/received"; status: BroadcastStatus }
  | { type: "mic/level"; level: MicLevel }
  | { type: "viewers/received"; viewers: ViewerCountView }
  // the Studio
  | { type: "devices/loaded"; devices: DeviceList }
  | { type: "devices/failed"; message: string }
  | { type: "sources/selected"; camera?: string; microphone?: string }
  | { type: "preset/selected"; preset: PresetId }
  | { type: "bitrate/changed"; kbps: number }
  | { type: "conntest/started" }
  | { type: "conntest/done"; report: ConnectionReport }
  | { type: "conntest/failed"; message: string }
  | { type: "conntest/applied" }
  | { type: "preview/started" }
  | { type: "preview/failed"; message: string }
  | { type: "golive/requested" }
  | { type: "golive/failed"; message: string }
  | { type: "channel/loading" }
  | { type: "channel/loaded"; channel: ChannelView }
  | { type: "channel/failed"; message: string }
  | { type: "key/revealed"; key: string }
  | { type: "key/hidden" }
  // Recordings
  | { type: "recordings/loading" }
  | { type: "recordings/loaded"; items: RecordingView[] }
  | { type: "recordings/failed"; message: string }
  | { type: "recordings/selected"; id: number }
  | { type: "local/loaded"; items: LocalCopyView[] }
  | { type: "local/failed"; message: string }
  // Settings
  | { type: "settings/loading" }
  | { type: "settings/loaded"; settings: SettingsView; info: AppInfo }
  | { type: "settings/failed"; message: string }
  | { type: "settings/saved"; settings: SettingsView }
  | { type: "settings/save-failed"; message: string };

export type ActionType = Action["type"];

export const NO_VIEWERS: ViewerCountView = { active: 0, peak: 0, total: 0, connected: false };

export function initialState(): AppState {
  return {
    session: { phase: "starting" },
    tab: "studio",
    signIn: { stage: { view: "credentials" }, busy: false, error: "", notice: "" },
    broadcast: { status: null, goLiveError: null, mic: null, viewers: NO_VIEWERS },
    studio: {
      devices: { status: "idle" },
      form: { camera: null, microphone: null, preset: DEFAULT_PRESET, videoKbps: presetById(DEFAULT_PRESET).default_kbps },
      hint: "",
      channel: { status: "idle" },
      revealedKey: null,
      connectionTest: { status: "idle" },
    },
    recordings: { list: { status: "idle" }, selected: null, local: { status: "idle" } },
    settings: { load: { status: "idle" }, message: "" },
  };
}

/** The chosen device if the list still has it, else the list's first (null for an empty list). */
function pick(current: string | null, options: { id: string }[]): string | null {
  if (current !== null && options.some((o) => o.id === current)) return current;
  return options[0]?.id ?? null;
}

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case "session/entered":
      return { ...s, session: { phase: "signed-in", me: a.me }, signIn: { stage: { view: "credentials" }, busy: false, error: "", notice: "" } };
    case "session/signed-out": {
      const fresh = initialState();
      return {
        ...s,
        session: { phase: "signed-out" },
        signIn: { stage: { view: "credentials" }, busy: false, error: a.error ?? "", notice: a.notice ?? "" },
        // what belongs to the account goes; the broadcast, the devices and the chosen tab stay
        studio: { ...s.studio, channel: fresh.studio.channel, revealedKey: null, connectionTest: fresh.studio.connectionTest },
        recordings: fresh.recordings,
        settings: fresh.settings,
      };
    }
    case "tab/selected":
      return s.tab === a.tab ? s : { ...s, tab: a.tab };

    case "signin/submitted":
      return { ...s, signIn: { ...s.signIn, busy: true, error: "", notice: "" } };
    case "signin/step": {
      const st = a.step;
      switch (st.step) {
        case "signed_in":
          return reduce(s, { type: "session/entered", me: st.me });
        case "new_password_required":
          return { ...s, signIn: { ...s.signIn, busy: false, error: "", stage: { view: "new-password", rules: st.rules } } };
        case "mfa_required":
          return { ...s, signIn: { ...s.signIn, busy: false, error: "", stage: { view: "mfa" } } };
        default:
          return unreachable(st);
      }
    }
    case "signin/failed":
      // a challenge answered too late (or the app restarted): back to the credentials, saying why
      if (s.signIn.stage.view !== "credentials" && a.kind === "signed_out") {
        return { ...s, signIn: { ...s.signIn, busy: false, error: a.message, stage: { view: "credentials" } } };
      }
      return { ...s, signIn: { ...s.signIn, busy: false, error: a.message } };
    case "signin/invalid":
      return { ...s, signIn: { ...s.signIn, error: a.message } };
    case "signin/back":
      return { ...s, signIn: { ...s.signIn, busy: false, error: "", stage: { view: "credentials" } } };

    case "status/received":
      return { ...s, broadcast: { ...s.broadcast, status: a.status, goLiveError: null } };
    case "mic/level":
      return { ...s, broadcast: { ...s.broadcast, mic: a.level } };
    case "viewers/received":
      return { ...s, broadcast: { ...s.broadcast, viewers: a.viewers } };

    case "devices/loaded":
      return {
        ...s,
        studio: {
          ...s.studio,
          devices: { status: "ready", data: a.devices },
          form: { ...s.studio.form, camera: pick(s.studio.form.camera, a.devices.cameras), microphone: pick(s.studio.form.microphone, a.devices.microphones) },
          hint: a.devices.notes.join(" "),
        },
      };
    case "devices/failed":
      return { ...s, studio: { ...s.studio, devices: { status: "error", message: a.message }, hint: a.message } };
    case "sources/selected":
      return {
        ...s,
        studio: { ...s.studio, form: { ...s.studio.form, camera: a.camera ?? s.studio.form.camera, microphone: a.microphone ?? s.studio.form.microphone } },
      };
    case "preset/selected":
      // a preset brings its own typical bitrate (Rust's table)
      return { ...s, studio: { ...s.studio, form: { ...s.studio.form, preset: a.preset, videoKbps: presetById(a.preset).default_kbps } } };
    case "bitrate/changed":
      if (s.studio.form.videoKbps === a.kbps) return s;
      return { ...s, studio: { ...s.studio, form: { ...s.studio.form, videoKbps: a.kbps } } };
    case "conntest/started":
      return { ...s, studio: { ...s.studio, connectionTest: { status: "loading" } } };
    case "conntest/done":
      return { ...s, studio: { ...s.studio, connectionTest: { status: "ready", data: a.report } } };
    case "conntest/failed":
      return { ...s, studio: { ...s.studio, connectionTest: { status: "error", message: a.message } } };
    case "conntest/applied": {
      // the best recommendation: its preset and bitrate
      const t = s.studio.connectionTest;
      const best = t.status === "ready" ? t.data.recommendations[0] : undefined;
      if (!best) return s;
      return { ...s, studio: { ...s.studio, form: { ...s.studio.form, preset: best.preset, videoKbps: best.video_kbps } } };
    }
    case "preview/started":
      return s.studio.hint === "" ? s : { ...s, studio: { ...s.studio, hint: "" } };
    case "preview/failed":
      return { ...s, studio: { ...s.studio, hint: a.message } };
    case "golive/requested":
      // a new broadcast counts its own viewers
      return { ...s, broadcast: { ...s.broadcast, viewers: NO_VIEWERS, goLiveError: null } };
    case "golive/failed":
      return { ...s, broadcast: { ...s.broadcast, goLiveError: a.message } };
    case "channel/loading":
      return { ...s, studio: { ...s.studio, channel: { status: "loading" }, revealedKey: null } };
    case "channel/loaded":
      return { ...s, studio: { ...s.studio, channel: { status: "ready", data: a.channel }, revealedKey: null } };
    case "channel/failed":
      return { ...s, studio: { ...s.studio, channel: { status: "error", message: a.message }, revealedKey: null } };
    case "key/revealed":
      return { ...s, studio: { ...s.studio, revealedKey: a.key } };
    case "key/hidden":
      return { ...s, studio: { ...s.studio, revealedKey: null } };

    case "recordings/loading":
      return { ...s, recordings: { ...s.recordings, list: { status: "loading" }, selected: null } };
    case "recordings/loaded":
      return { ...s, recordings: { ...s.recordings, list: { status: "ready", data: a.items } } };
    case "recordings/failed":
      return { ...s, recordings: { ...s.recordings, list: { status: "error", message: a.message }, selected: null } };
    case "local/loaded":
      return { ...s, recordings: { ...s.recordings, local: { status: "ready", data: a.items } } };
    case "local/failed":
      return { ...s, recordings: { ...s.recordings, local: { status: "error", message: a.message } } };
    case "recordings/selected": {
      const l = s.recordings.list;
      if (l.status !== "ready" || !l.data.some((r) => r.id === a.id)) return s;
      return { ...s, recordings: { ...s.recordings, selected: a.id } };
    }

    case "settings/loading":
      return { ...s, settings: { load: { status: "loading" }, message: "" } };
    case "settings/loaded":
      return { ...s, settings: { load: { status: "ready", data: { settings: a.settings, info: a.info } }, message: "" } };
    case "settings/failed":
      return { ...s, settings: { load: { status: "error", message: a.message }, message: "" } };
    case "settings/saved": {
      const l = s.settings.load;
      if (l.status !== "ready") return s;
      return { ...s, settings: { load: { status: "ready", data: { ...l.data, settings: a.settings } }, message: "Saved." } };
    }
    case "settings/save-failed":
      return { ...s, settings: { ...s.settings, message: a.message } };

    default:
      return unreachable(a);
  }
}

// ---------- selectors ----------

/** The broadcast's phase ("idle" before Rust's first status). */
export function phaseOf(s: AppState): SessionPhase {
  return s.broadcast.status?.state ?? "idle";
}

/** Go Live needs the device lists in, with a camera and a microphone chosen. */
export function sourcesReady(s: AppState): boolean {
  return s.studio.devices.status === "ready" && s.studio.form.camera !== null && s.studio.form.microphone !== null;
}

export type Listener = (state: AppState, prev: AppState) => void;

/** Holds the state; `dispatch` runs the reducer and tells the subscribers (in order, one action at a time). */
export class Store {
  private listeners: Listener[] = [];
  private queue: Action[] = [];
  private dispatching = false;

  constructor(
    private state: AppState = initialState(),
    private readonly reducer: (s: AppState, a: Action) => AppState = reduce,
    /** A subscriber that throws is reported here; the others still run. */
    private readonly onError: (e: unknown, action: Action) => void = (e, a) => console.error("subscriber failed", a.type, e),
  ) {}

  get(): AppState {
    return this.state;
  }

  dispatch(action: Action): void {
    this.queue.push(action);
    if (this.dispatching) return; // a subscriber dispatched: after this round
    this.dispatching = true;
    try {
      for (let a = this.queue.shift(); a; a = this.queue.shift()) {
        const prev = this.state;
        const next = this.reducer(prev, a);
        if (next === prev) continue;
        this.state = next;
        for (const l of [...this.listeners]) {
          if (!this.listeners.includes(l)) continue; // unsubscribed by an earlier one (e.g. a screen unmounted)
          try {
            l(next, prev);
          } catch (e) {
            this.onError(e, a);
          }
        }
      }
    } finally {
      this.dispatching = false;
      this.queue.length = 0;
    }
  }

  /** Calls `l` after each change; returns the unsubscribe. */
  subscribe(l: Listener): () => void {
    this.listeners.push(l);
    return () => {
      this.listeners = this.listeners.filter((x) => x !== l);
    };
  }
}
