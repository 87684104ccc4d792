import { afterEach, describe, expect, it, vi } from "vitest";
import type { SettingsView } from "../bindings";
import type { Mounted } from "../context";
import { appInfo, el, fail, fakeCtx, flush, ok, pending, settingsView, stateWith, text } from "../testing";
import type { TestCtx } from "../testing";
import { mountSettings } from "./settings";

let root: HTMLElement;
let screen: Mounted | null = null;
afterEach(() => {
  screen?.unmount();
  screen = null;
  document.body.replaceChildren();
});

async function mount(api: NonNullable<Parameters<typeof fakeCtx>[0]>["api"] = {}): Promise<TestCtx> {
  root = document.createElement("div");
  document.body.append(root);
  const ctx = fakeCtx({ api, state: stateWith({}) });
  screen = mountSettings(root, ctx);
  await flush();
  return ctx;
}
const input = (id: string) => el<HTMLInputElement>(root, id);

describe("Settings: each state", () => {
  it("loading", async () => {
    const s = pending<SettingsView>();
    await mount({ getSettings: () => s.promise });
    expect(text(root, "settings-loading")).toBe("Loading settings…");
  });

  it("without an override: empty URL, no stored key, automatic token store", async () => {
    await mount({ getSettings: () => ok(settingsView()) });
    expect(input("override-url").value).toBe("");
    expect(input("override-key").value).toBe("");
    expect(input("override-key").placeholder).toBe("stream key");
    expect(input("override-key").type).toBe("password");
    expect(el<HTMLSelectElement>(root, "token-store").value).toBe("auto");
    expect(text(root, "settings-msg")).toBe("");
    expect(text(root, "app-info")).toContain("eu-west-1_abc");
    expect(text(root, "screen-settings")).toContain("About Mentorcast 1.2.3");
  });

  it("with an override: its URL, a stored key (never shown), the chosen token store", async () => {
    await mount({ getSettings: () => ok(settingsView({ ingest_override_url: "rtmp://127.0.0.1:1935/room-x", ingest_override_has_key: true, token_store: "file" })) });
    expect(input("override-url").value).toBe("rtmp://127.0.0.1:1935/room-x");
    expect(input("override-key").value).toBe("");
    expect(input("override-key").placeholder).toBe("•••• stored (type to replace, clear to remove)");
    expect(el<HTMLSelectElement>(root, "token-store").value).toBe("file");
  });

  it("no Cognito settings: said so", async () => {
    await mount({ appInfo: () => ok(appInfo({ cognito: null, config_path: null })) });
    expect(text(root, "app-info")).toContain("No Cognito settings.");
    expect(text(root, "app-info")).toContain("none (defaults)");
  });

  it("an error: its message", async () => {
    await mount({ appInfo: () => fail("storage", "The settings file is unreadable.") });
    expect(text(root, "settings-error")).toBe("The settings file is unreadable.");
  });
});

describe("Settings: broadcasting", () => {
  it("the local copy and adaptive bitrate as stored, with the copies' folder; turning them off is saved", async () => {
    const ctx = await mount({ getSettings: () => ok(settingsView({ local_copy: true, adaptive: true, local_copy_dir: "/home/m/Videos/Mentorcast" })) });
    expect(input("local-copy").checked).toBe(true);
    expect(input("adaptive").checked).toBe(true);
    expect(text(root, "screen-settings")).toContain("In /home/m/Videos/Mentorcast; listed in Recordings.");
    input("local-copy").click();
    input("adaptive").click();
    el(root, "save-settings").click();
    await flush();
    expect(ctx.api.saveSettings).toHaveBeenCalledWith(expect.objectContaining({ local_copy: false, adaptive: false }));
    expect(input("local-copy").checked).toBe(false);
  });

  it("off as stored; no videos folder: said", async () => {
    await mount({ getSettings: () => ok(settingsView({ local_copy: false, adaptive: false, local_copy_dir: null })) });
    expect(input("local-copy").checked).toBe(false);
    expect(input("adaptive").checked).toBe(false);
    expect(text(root, "screen-settings")).toContain("No videos folder was found.");
  });
});

describe("Settings: saving", () => {
  it("sends the fields; Saved.; the key field emptied, its placeholder says a key is stored", async () => {
    const ctx = await mount();
    input("override-url").value = "rtmp://127.0.0.1:1935/room-abc";
    input("override-key").value = "sk_wrong-key";
    el(root, "save-settings").click();
    await flush();
    expect(ctx.api.saveSettings).toHaveBeenCalledWith({ ingest_override_url: "rtmp://127.0.0.1:1935/room-abc", ingest_override_key: "sk_wrong-key", token_store: "auto", local_copy: true, adaptive: true });
    expect(text(root, "settings-msg")).toBe("Saved.");
    expect(input("override-key").value).toBe("");
    expect(input("override-key").placeholder).toBe("•••• stored (type to replace, clear to remove)");
    expect(input("override-url").value).toBe("rtmp://127.0.0.1:1935/room-abc");
  });

  it("an empty URL removes the override; an empty key keeps the stored one", async () => {
    const saveSettings = vi.fn(() => ok(settingsView()));
    await mount({ getSettings: () => ok(settingsView({ ingest_override_url: "rtmp://x/app", ingest_override_has_key: true })), saveSettings });
    input("override-url").value = "";
    el(root, "save-settings").click();
    await flush();
    expect(saveSettings).toHaveBeenCalledWith({ ingest_override_url: null, ingest_override_key: null, token_store: "auto", local_copy: true, adaptive: true });
    expect(input("override-key").placeholder).toBe("stream key");
  });

  it("a refused save: why, the fields kept", async () => {
    await mount({ saveSettings: () => fail("bad_input", "The URL must start with rtmp:// or rtmps://.") });
    input("override-url").value = "http://x";
    input("override-key").value = "k";
    el(root, "save-settings").click();
    await flush();
    expect(text(root, "settings-msg")).toBe("The URL must start with rtmp:// or rtmps://.");
    expect(input("override-url").value).toBe("http://x");
    expect(input("override-key").value).toBe("k");
  });
});
