import { describe, expect, it } from "vitest";
import { PreviewLink } from "./preview";

function backend() {
  const log: string[] = [];
  let releaseDone: () => void = () => undefined;
  return {
    log,
    finishRelease: () => releaseDone(),
    b: {
      url: async () => {
        log.push("url");
        return "http://127.0.0.1:1/preview/t";
      },
      release: () => {
        log.push("release");
        return new Promise<void>((r) => (releaseDone = () => (log.push("released"), r())));
      },
    },
  };
}

describe("PreviewLink", () => {
  it("loads a new URL on each attach and asks for the URL once", async () => {
    const { b, log } = backend();
    const link = new PreviewLink(b);
    const img = document.createElement("img");
    await link.attach(img);
    const first = img.src;
    await link.attach(img);
    expect(first).toMatch(/^http:\/\/127\.0\.0\.1:1\/preview\/t\?v=\d+$/);
    expect(img.src).not.toBe(first);
    expect(log).toEqual(["url"]);
  });

  it("releasing drops the src and ends the stream in the app", async () => {
    const { b, log, finishRelease } = backend();
    const link = new PreviewLink(b);
    const img = document.createElement("img");
    await link.attach(img);
    const done = link.release(img);
    expect(img.hasAttribute("src")).toBe(false);
    expect(log).toEqual(["url", "release"]);
    finishRelease();
    await done;
  });

  it("an attach waits for a release in flight (the release would end the new stream)", async () => {
    const { b, log, finishRelease } = backend();
    const link = new PreviewLink(b);
    const img = document.createElement("img");
    await link.attach(img);
    void link.release(img);
    const again = link.attach(img);
    await Promise.resolve();
    await Promise.resolve();
    expect(img.hasAttribute("src")).toBe(false);
    finishRelease();
    await again;
    expect(log).toEqual(["url", "release", "released"]);
    expect(img.src).toMatch(/\?v=\d+$/);
  });

  it("a release during an attach wins: nothing is loaded after it", async () => {
    const { b, finishRelease } = backend();
    const link = new PreviewLink(b);
    const img = document.createElement("img");
    const attaching = link.attach(img); // waits for the URL
    void link.release(img);
    finishRelease();
    await attaching;
    expect(img.hasAttribute("src")).toBe(false);
  });
});
