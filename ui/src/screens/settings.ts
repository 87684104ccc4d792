// Settings: the local copy and adaptive bitrate, the QA ingest override, where sign-in
// tokens are kept, and about the app.
import { call, errorOf } from "../api";
import type { AppInfo, SettingsView, TokenStoreDto } from "../bindings";
import type { Ctx, Mounted } from "../context";
import { clear, h, setText } from "../dom";
import type { SettingsState } from "../store";

const TOKEN_STORES: readonly (readonly [TokenStoreDto, string])[] = [
  ["auto", "Automatic (keyring, else a private file)"],
  ["keyring", "System keyring"],
  ["file", "Private file"],
];

function keyPlaceholder(s: SettingsView): string {
  return s.ingest_override_has_key ? "•••• stored (type to replace, clear to remove)" : "stream key";
}

export function mountSettings(root: HTMLElement, ctx: Ctx): Mounted {
  const { store, api } = ctx;
  let mounted = true;
  const msg = h("p", { class: "hint", "data-testid": "settings-msg" });
  let keyInput: HTMLInputElement | null = null;
  let shownInfo: AppInfo | null = null, shownSettings: SettingsView | null = null;

  const build = (s: SettingsView, info: AppInfo) => {
    const url = h("input", { placeholder: "rtmp://host:1935/app (empty: your channel)", value: s.ingest_override_url ?? "", "data-testid": "override-url" });
    const key = h("input", { type: "password", autocomplete: "off", placeholder: keyPlaceholder(s), "data-testid": "override-key" });
    const tokens = h("select", { "data-testid": "token-store" });
    for (const [v, l] of TOKEN_STORES) tokens.append(h("option", { value: v }, l));
    tokens.value = s.token_store ?? "auto";
    const localCopy = h("input", { type: "checkbox", "data-testid": "local-copy" });
    localCopy.checked = s.local_copy;
    const adaptive = h("input", { type: "checkbox", "data-testid": "adaptive" });
    adaptive.checked = s.adaptive;
    const save = h("button", { class: "primary", "data-testid": "save-settings" }, "Save");
    save.onclick = async () => {
      try {
        const k = key.value;
        const out = await call(
          api.saveSettings({
            ingest_override_url: url.value || null,
            ingest_override_key: k === "" ? null : k,
            token_store: tokens.value as TokenStoreDto,
            local_copy: localCopy.checked,
            adaptive: adaptive.checked,
          }),
        );
        if (mounted) store.dispatch({ type: "settings/saved", settings: out });
      } catch (e) {
        if (mounted) store.dispatch({ type: "settings/save-failed", message: errorOf(e) });
      }
    };
    keyInput = key;
    const field = (label: string, input: HTMLElement) => h("label", { class: "field" }, h("span", {}, label), input);
    const check = (input: HTMLElement, label: string, hint: string) =>
      h("label", { class: "check" }, input, h("span", {}, label, h("small", { class: "muted" }, hint)));
    const kv = (k: string, v: string) => h("div", { class: "kv" }, h("span", { class: "muted" }, k), h("code", {}, v));
    const c = info.cognito;
    clear(
      root,
      h(
        "div",
        { class: "settings", "data-testid": "screen-settings" },
        h(
          "section",
          { class: "card" },
          h("h3", {}, "Broadcasting"),
          check(localCopy, "Keep a copy of every broadcast on this computer", s.local_copy_dir ? `In ${s.local_copy_dir}; listed in Recordings.` : "No videos folder was found."),
          check(adaptive, "Lower the quality when the connection is slow", "Keeps the class live and close to real time on a weak network; the quality comes back by itself."),
          h("h3", {}, "Ingest override (QA)"),
          h("p", { class: "muted" }, "Send to another RTMP/RTMPS ingest instead of your channel. Leave empty for normal use."),
          field("URL", url),
          field("Stream key", key),
          field("Keep sign-in tokens in", tokens),
          h("div", { class: "row" }, save),
          msg,
        ),
        h(
          "section",
          { class: "card", "data-testid": "app-info" },
          h("h3", {}, "Backend and sign-in"),
          kv("Config file", info.config_path ?? "none (defaults)"),
          kv("Backend", info.api_url),
          ...(c
            ? [kv("Cognito region", c.region), kv("User pool", c.user_pool_id), kv("App client", c.client_id), kv("Endpoint", c.endpoint ?? "AWS"), kv("Sign-in flow", c.auth_flow)]
            : [h("p", { class: "error" }, "No Cognito settings.")]),
          kv("Tokens kept in", info.token_store),
        ),
        h("section", { class: "card" }, h("h3", {}, `About Mentorcast ${info.version}`), h("ul", { class: "licences" }, ...info.licences.map((l) => h("li", {}, `${l.name} — ${l.licence}`)))),
      ),
    );
  };

  const render = (s: SettingsState) => {
    const l = s.load;
    switch (l.status) {
      case "idle":
      case "loading":
        shownInfo = shownSettings = keyInput = null;
        clear(root, h("p", { class: "muted", "data-testid": "settings-loading" }, "Loading settings…"));
        break;
      case "error":
        shownInfo = shownSettings = keyInput = null;
        clear(root, h("p", { class: "error", "data-testid": "settings-error" }, l.message));
        break;
      case "ready":
        if (l.data.info !== shownInfo) {
          build(l.data.settings, l.data.info);
        } else if (l.data.settings !== shownSettings && keyInput) {
          // saved: the key field is emptied, its placeholder says whether one is stored (the
          // checkboxes already show what was saved)
          keyInput.value = "";
          keyInput.placeholder = keyPlaceholder(l.data.settings);
        }
        shownInfo = l.data.info;
        shownSettings = l.data.settings;
        break;
    }
    setText(msg, s.message);
  };

  const load = async () => {
    store.dispatch({ type: "settings/loading" });
    try {
      const [settings, info] = await Promise.all([call(api.getSettings()), call(api.appInfo())]);
      if (mounted) store.dispatch({ type: "settings/loaded", settings, info });
    } catch (e) {
      if (mounted) store.dispatch({ type: "settings/failed", message: errorOf(e) });
    }
  };

  void load();
  render(store.get().settings);
  const off = store.subscribe((s, prev) => {
    if (s.settings !== prev.settings) render(s.settings);
  });
  return {
    unmount() {
      mounted = false;
      off();
    },
  };
}
