import { afterEach, describe, expect, it } from "vitest";
import type { RecordingView } from "../bindings";
import type { Mounted } from "../context";
import { formatDate } from "../state";
import { el, fail, fakeCtx, flush, localCopy, ok, pending, recording, stateWith, text } from "../testing";
import type { TestCtx } from "../testing";
import { mountRecordings } from "./recordings";

let root: HTMLElement;
let screen: Mounted | null = null;
afterEach(() => {
  screen?.unmount();
  screen = null;
  document.body.replaceChildren();
});

function mount(api: NonNullable<Parameters<typeof fakeCtx>[0]>["api"] = {}): TestCtx {
  root = document.createElement("div");
  document.body.append(root);
  const ctx = fakeCtx({ api, state: stateWith({}) });
  screen = mountRecordings(root, ctx);
  return ctx;
}
const cards = () => [...root.querySelectorAll<HTMLButtonElement>('[data-testid="recording"]')];

describe("Recordings: each state", () => {
  it("loading", () => {
    const list = pending<RecordingView[]>();
    mount({ listRecordings: () => list.promise });
    expect(text(root, "recordings-list")).toBe("Loading recordings…");
    expect(text(root, "player")).toBe("Choose a recording to play it here.");
  });

  it("empty: says when they appear", async () => {
    mount({ listRecordings: () => ok([]) });
    await flush();
    expect(text(root, "no-recordings")).toBe("No recordings yet: they appear here a minute after a class ends.");
    expect(cards()).toHaveLength(0);
  });

  it("a list: one card each, with its thumbnail, date and subtitle", async () => {
    mount({ listRecordings: () => ok([recording(1), recording(2, { duration_s: 3909, viewers_total: 12, viewers_peak: 8 })]) });
    await flush();
    expect(cards().map((c) => c.dataset.id)).toEqual(["1", "2"]);
    expect(el<HTMLImageElement>(cards()[0], "recording-thumb").getAttribute("src")).toBe("https://backend.example/rec/1.jpg");
    expect(cards()[1].textContent).toContain(formatDate(recording(2).started_at));
    expect(cards()[1].textContent).toContain("1:05:09 · 12 viewers (peak 8)");
  });

  it("an error: its message", async () => {
    mount({ listRecordings: () => fail("network", "The backend cannot be reached.") });
    await flush();
    expect(text(root, "recordings-error")).toBe("The backend cannot be reached.");
  });
});

describe("Recordings: playing and refreshing", () => {
  it("a card plays its recording in the player and is marked", async () => {
    mount({ listRecordings: () => ok([recording(1), recording(2, { avg_play_time_s: null })]) });
    await flush();
    cards()[1].click();
    const video = el<HTMLVideoElement>(root, "player-video");
    expect(video.getAttribute("src")).toBe("https://backend.example/rec/2.mp4");
    expect(video.controls).toBe(true);
    expect(cards().map((c) => c.classList.contains("selected"))).toEqual([false, true]);
    expect(text(root, "player")).toContain("Viewers: 7 total, peak 5");
    expect(text(root, "player")).not.toContain("Average watch time");
    cards()[0].click();
    expect(el<HTMLVideoElement>(root, "player-video").getAttribute("src")).toBe("https://backend.example/rec/1.mp4");
    expect(text(root, "player")).toContain("Average watch time: 0:42");
    expect(cards().map((c) => c.classList.contains("selected"))).toEqual([true, false]);
  });

  it("Refresh asks again and shows the new list (the player is emptied)", async () => {
    let items = [recording(1)];
    const ctx = mount({ listRecordings: () => ok(items) });
    await flush();
    cards()[0].click();
    items = [recording(1), recording(3)];
    el(root, "refresh-recordings").click();
    await flush();
    expect(ctx.api.listRecordings).toHaveBeenCalledTimes(2);
    expect(cards().map((c) => c.dataset.id)).toEqual(["1", "3"]);
    expect(root.querySelector('[data-testid="player-video"]')).toBeNull();
  });

  it("an answer after the screen went is dropped", async () => {
    const list = pending<RecordingView[]>();
    const ctx = mount({ listRecordings: () => list.promise });
    screen!.unmount();
    screen = null;
    list.resolve([recording(1)]);
    await flush();
    expect(ctx.store.get().recordings.list.status).toBe("loading");
  });
});

describe("Recordings: on this computer", () => {
  const items = () => [...root.querySelectorAll<HTMLElement>('[data-testid="local-copy-item"]')];

  it("none: says how to turn them on", async () => {
    mount();
    await flush();
    expect(text(root, "no-local-copies")).toBe("No local copies: Settings turns them on.");
  });

  it("a list: date, duration and size; Play and Show in folder open the file", async () => {
    const ctx = mount({ listLocalCopies: () => ok([localCopy(), localCopy({ path: "/v/b.flv", name: "b.flv", duration_s: null, size_bytes: 1_500_000 })]) });
    await flush();
    expect(items().map((i) => i.dataset.path)).toEqual([localCopy().path, "/v/b.flv"]);
    expect(items()[0].textContent).toContain(formatDate(localCopy().ended_at));
    expect(text(items()[0], "local-copy-meta")).toBe("12:34 · 211.0 MB");
    expect(text(items()[1], "local-copy-meta")).toBe("– · 1.5 MB");
    el<HTMLButtonElement>(items()[0], "local-copy-play").click();
    el<HTMLButtonElement>(items()[1], "local-copy-reveal").click();
    await flush();
    expect(ctx.api.openLocalCopy).toHaveBeenNthCalledWith(1, localCopy().path, false);
    expect(ctx.api.openLocalCopy).toHaveBeenNthCalledWith(2, "/v/b.flv", true);
  });

  it("a folder that cannot be read, or a file that cannot be opened: said", async () => {
    mount({ listLocalCopies: () => fail("storage", "Cannot read the local copies in /v: permission denied.") });
    await flush();
    expect(text(root, "local-copies-error")).toBe("Cannot read the local copies in /v: permission denied.");
    screen?.unmount();
    const ctx = mount({ listLocalCopies: () => ok([localCopy()]), openLocalCopy: () => fail("other", "Cannot open it (is a desktop opener installed?).") });
    await flush();
    el<HTMLButtonElement>(root, "local-copy-play").click();
    await flush();
    expect(ctx.toasts).toEqual(["Cannot open it (is a desktop opener installed?)."]);
  });

  it("the recordings' refresh looks again", async () => {
    const ctx = mount();
    await flush();
    el<HTMLButtonElement>(root, "refresh-recordings").click();
    await flush();
    expect(ctx.api.listLocalCopies).toHaveBeenCalledTimes(2);
  });
});
