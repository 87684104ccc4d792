// Small UI components without app state (tested with Vitest + jsdom).
import { h } from "./dom";

/** A modal confirmation; resolves true on the confirm button, false on Cancel or Escape. */
export function confirmDialog(title: string, text: string, ok: string, okId = "confirm-ok"): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      overlay.remove();
      resolve(v);
    };
    const overlay = h(
      "div",
      { class: "overlay", role: "dialog", "aria-modal": "true", "aria-labelledby": "dialog-title" },
      h(
        "div",
        { class: "card dialog" },
        h("h2", { id: "dialog-title" }, title),
        h("p", {}, text),
        h("div", { class: "row end" }, h("button", { id: "confirm-cancel", class: "ghost", onclick: () => done(false) }, "Cancel"), h("button", { id: okId, class: "danger", onclick: () => done(true) }, ok)),
      ),
    );
    overlay.addEventListener("keydown", (e) => {
      if ((e as KeyboardEvent).key === "Escape") done(false);
    });
    document.body.append(overlay);
    (overlay.querySelector(".danger") as HTMLButtonElement).focus();
  });
}

