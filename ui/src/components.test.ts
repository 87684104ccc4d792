import { afterEach, describe, expect, it, vi } from "vitest";
import { confirmDialog, toast } from "./components";
import { tid } from "./dom";

afterEach(() => document.body.replaceChildren());

describe("confirmDialog", () => {
  it("resolves true on the confirm button and removes itself", async () => {
    const p = confirmDialog("End the class?", "Viewers will see the stream stop.", "End broadcast", "confirm-end");
    const ok = document.querySelector(tid("confirm-end")) as HTMLButtonElement;
    expect(ok.textContent).toBe("End broadcast");
    expect(document.activeElement).toBe(ok);
    expect(document.querySelector("[role=dialog]")?.getAttribute("aria-modal")).toBe("true");
    ok.click();
    await expect(p).resolves.toBe(true);
    expect(document.querySelector(".overlay")).toBeNull();
  });

  it("resolves false on Cancel and on Escape", async () => {
    const p1 = confirmDialog("t", "x", "OK");
    (document.querySelector(tid("confirm-cancel")) as HTMLButtonElement).click();
    await expect(p1).resolves.toBe(false);
    const p2 = confirmDialog("t", "x", "OK");
    document.querySelector(".overlay")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await expect(p2).resolves.toBe(false);
  });
});

describe("toast", () => {
  it("shows a message and removes it after its time", () => {
    vi.useFakeTimers();
    try {
      toast("New stream key issued.", 5000);
      expect(document.querySelector(tid("toast"))?.textContent).toBe("New stream key issued.");
      vi.advanceTimersByTime(4999);
      expect(document.querySelector(tid("toast"))).not.toBeNull();
      vi.advanceTimersByTime(1);
      expect(document.querySelector(tid("toast"))).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });
});
