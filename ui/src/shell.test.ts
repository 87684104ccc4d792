import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Mounted } from "./context";
import { boot, mountShell } from "./shell";
import { el, fail, fakeCtx, flush, me, ok, status, text } from "./testing";
import type { TestCtx } from "./testing";
import type { AppState } from "./store";

vi.mock("./chart", () => ({ drawChart: vi.fn() }));

let root: HTMLElement;
let shell: Mounted | null = null;
beforeEach(() => {
  root = document.createElement("div");
  document.body.append(root);
});
afterEach(() => {
  shell?.unmount();
  shell = null;
  document.body.replaceChildren();
});

function mount(opts: Parameters<typeof fakeCtx>[0] = {}): TestCtx {
  const ctx = fakeCtx(opts);
  shell = mountShell(root, ctx);
  return ctx;
}
const has = (id: string) => root.querySelector(`[data-testid="${id}"]`) !== null;
const signedIn: Partial<AppState> = { session: { phase: "signed-in", me: me() } };

describe("Shell", () => {
  it("starting: nothing yet; signed out: the sign-in form", () => {
    const ctx = mount();
    expect(root.childElementCount).toBe(0);
    ctx.store.dispatch({ type: "session/signed-out", error: "Backend unreachable." });
    expect(has("screen-signin")).toBe(true);
    expect(text(root, "signin-error")).toBe("Backend unreachable.");
  });

  it("signed in: who, the tabs with the Studio chosen, the Studio", () => {
    mount({ state: signedIn });
    expect(text(root, "whoami")).toBe("mentor1");
    expect(el(root, "tab-studio").className).toBe("tab active");
    expect(el(root, "tab-studio").getAttribute("aria-selected")).toBe("true");
    expect(el(root, "tab-recordings").getAttribute("aria-selected")).toBe("false");
    expect(has("screen-studio")).toBe(true);
  });

  it("a tab switch mounts that screen; leaving the Studio releases the preview and stops it when idle", async () => {
    const ctx = mount({ state: signedIn });
    await flush();
    el(root, "tab-recordings").click();
    expect(has("screen-recordings")).toBe(true);
    expect(has("screen-studio")).toBe(false);
    expect(el(root, "tab-recordings").className).toBe("tab active");
    expect(el(root, "tab-studio").className).toBe("tab");
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    expect(ctx.api.stopPreview).toHaveBeenCalledOnce();
    el(root, "tab-settings").click();
    await flush();
    expect(has("screen-settings")).toBe(true);
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    el(root, "tab-studio").click();
    expect(has("screen-studio")).toBe(true);
  });

  it("leaving the Studio while live keeps the preview running (only the stream is released)", async () => {
    const ctx = mount({ state: { ...signedIn, broadcast: { status: status("live"), goLiveError: null, mic: null, viewers: { active: 0, peak: 0, total: 0, connected: true } } } });
    await flush();
    el(root, "tab-settings").click();
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
    expect(ctx.api.stopPreview).not.toHaveBeenCalled();
  });

  it("Sign out: the sign-in form with Rust's notice, no error; the chosen tab comes back at the next sign-in", async () => {
    const ctx = mount({ state: signedIn });
    el(root, "tab-recordings").click();
    el(root, "sign-out").click();
    await flush();
    expect(ctx.api.signOut).toHaveBeenCalledOnce();
    expect(has("screen-signin")).toBe(true);
    expect(text(root, "signin-notice")).toBe("Signed out. Your stored session was removed.");
    expect(text(root, "signin-error")).toBe("");
    ctx.store.dispatch({ type: "session/entered", me: me("mentor2") });
    expect(text(root, "whoami")).toBe("mentor2");
    expect(has("screen-recordings")).toBe(true);
  });

  it("signing out from the Studio releases the preview stream too", async () => {
    const ctx = mount({ state: signedIn });
    await flush();
    const img = el<HTMLImageElement>(root, "preview");
    expect(img.hasAttribute("src")).toBe(true);
    el(root, "sign-out").click();
    await flush();
    expect(img.hasAttribute("src")).toBe(false);
    expect(ctx.api.releasePreview).toHaveBeenCalledOnce();
  });

  it("a failed sign-out stays signed in and says why", async () => {
    const ctx = mount({ state: signedIn, api: { signOut: () => fail("storage", "The stored session could not be removed.") } });
    el(root, "sign-out").click();
    await flush();
    expect(has("whoami")).toBe(true);
    expect(ctx.toasts).toEqual(["The stored session could not be removed."]);
  });
});

describe("boot", () => {
  it("a remembered session: the broadcast's status, then the Studio", async () => {
    const ctx = mount({ api: { currentUser: () => ok(me()), broadcastStatus: () => ok(status("live")) } });
    await boot(ctx);
    expect(ctx.store.get().broadcast.status?.state).toBe("live");
    expect(text(root, "whoami")).toBe("mentor1");
    expect(text(root, "go-live")).toBe("End");
  });

  it("no session: the sign-in form, no message", async () => {
    const ctx = mount();
    await boot(ctx);
    expect(has("screen-signin")).toBe(true);
    expect(text(root, "signin-error")).toBe("");
  });

  it("a failure: the sign-in form says why", async () => {
    const ctx = mount({ api: { broadcastStatus: () => fail("other", "The app could not start its engine.") } });
    await boot(ctx);
    expect(text(root, "signin-error")).toBe("The app could not start its engine.");
  });
});
