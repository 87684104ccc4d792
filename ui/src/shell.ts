// The app shell: the sign-in screen, or the header (tabs, who is signed in, Sign out) over
// the chosen tab's screen. It mounts and unmounts the screens as the state says.
import { call, errorOf } from "./api";
import type { Me } from "./bindings";
import type { Ctx, Mounted } from "./context";
import { clear, h, setClass } from "./dom";
import { mountRecordings } from "./screens/recordings";
import { mountSettings } from "./screens/settings";
import { mountSignIn } from "./screens/signin";
import { mountStudio } from "./screens/studio";
import type { AppState, Session, Tab } from "./store";
import { unreachable } from "./state";

const TABS: readonly (readonly [Tab, string])[] = [
  ["studio", "Studio"],
  ["recordings", "Recordings"],
  ["settings", "Settings"],
];

function mountTab(tab: Tab, root: HTMLElement, ctx: Ctx): Mounted {
  switch (tab) {
    case "studio":
      return mountStudio(root, ctx);
    case "recordings":
      return mountRecordings(root, ctx);
    case "settings":
      return mountSettings(root, ctx);
    default:
      return unreachable(tab);
  }
}

export function mountShell(root: HTMLElement, ctx: Ctx): Mounted {
  const { store, api } = ctx;
  let screen: Mounted | null = null;
  let shownSession: Session | null = null;
  let shownTab: Tab | null = null;
  let content: HTMLElement | null = null;
  const tabButtons = new Map<Tab, HTMLButtonElement>();

  const signOut = async () => {
    try {
      store.dispatch({ type: "session/signed-out", notice: await call(api.signOut()) });
    } catch (e) {
      ctx.toast(errorOf(e));
    }
  };

  const buildShell = (me: Me) => {
    tabButtons.clear();
    for (const [t, label] of TABS) {
      tabButtons.set(t, h("button", { class: "tab", role: "tab", "aria-selected": "false", "data-testid": `tab-${t}`, onclick: () => store.dispatch({ type: "tab/selected", tab: t }) }, label));
    }
    content = h("main", { class: "content", "data-testid": "content" });
    clear(
      root,
      h(
        "header",
        { class: "topbar" },
        h("div", { class: "brand" }, h("span", { class: "dot" }), "Mentorcast"),
        h("nav", { role: "tablist" }, ...tabButtons.values()),
        h("div", { class: "user" }, h("span", { "data-testid": "whoami" }, me.username), h("button", { class: "ghost", "data-testid": "sign-out", onclick: () => void signOut() }, "Sign out")),
      ),
      content,
    );
  };

  const render = (s: AppState) => {
    if (s.session !== shownSession) {
      shownSession = s.session;
      screen?.unmount();
      screen = null;
      shownTab = null;
      content = null;
      switch (s.session.phase) {
        case "starting":
          clear(root);
          break;
        case "signed-out":
          screen = mountSignIn(root, ctx);
          break;
        case "signed-in":
          buildShell(s.session.me);
          break;
        default:
          unreachable(s.session);
      }
    }
    if (content && s.tab !== shownTab) {
      // the screen that leaves lets go of what it holds first (the Studio: the preview stream)
      screen?.unmount();
      shownTab = s.tab;
      for (const [t, el] of tabButtons) {
        setClass(el, t === s.tab ? "tab active" : "tab");
        el.setAttribute("aria-selected", t === s.tab ? "true" : "false");
      }
      screen = mountTab(s.tab, content, ctx);
    }
  };

  render(store.get());
  const off = store.subscribe((s) => render(s));
  return {
    unmount() {
      off();
      screen?.unmount();
      screen = null;
    },
  };
}

/** At start: the broadcast's state (a broadcast may be on), then the remembered session if any. */
export async function boot(ctx: Ctx): Promise<void> {
  const { store, api } = ctx;
  try {
    store.dispatch({ type: "status/received", status: await call(api.broadcastStatus()) });
    const me = await call(api.currentUser());
    store.dispatch(me ? { type: "session/entered", me } : { type: "session/signed-out" });
  } catch (e) {
    store.dispatch({ type: "session/signed-out", error: errorOf(e) });
  }
}
