import { afterEach, describe, expect, it } from "vitest";
import { confirmDialog } from "./components";

afterEach(() => document.body.replaceChildren());

describe("confirmDialog", () => {
  it("resolves true on the confirm button and removes itself", async () => {
    const p = confirmDialog("End the class?", "Viewers will see the stream stop.", "End broadcast", "confirm-end");
    const ok = document.getElementById("confirm-end") as HTMLButtonElement;
    expect(ok.textContent).toBe("End broadcast");
    expect(document.activeElement).toBe(ok);
    expect(document.querySelector("[role=dialog]")?.getAttribute("aria-modal")).toBe("true");
    ok.click();
    await expect(p).resolves.toBe(true);
    expect(document.querySelector(".overlay")).toBeNull();
  });

  it("resolves false on Cancel and on Escape", async () => {
    const p1 = confirmDialog("t", "x", "OK");
    (document.getElementById("confirm-cancel") as HTMLButtonElement).click();
    await expect(p1).resolves.toBe(false);
    const p2 = confirmDialog("t", "x", "OK");
    document.querySelector(".overlay")!.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
    await expect(p2).resolves.toBe(false);
  });
});
