// Small UI components without app state (tested with Vitest + jsdom).
import { h } from "./dom";

/** A modal confirmation; resolves true on the confirm button, false on Cancel or Escape.
 * The confirm button's `data-testid` is `okTestId`. */
export function confirmDialog(title: string, text: string, ok: string, okTestId = "confirm-ok"): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      overlay.remove();
      resolve(v);
    };
    const okButton = h("button", { "data-testid": okTestId, class: "danger", onclick: () => done(true) }, ok);
    const overlay = h(
      "div",
      { class: "overlay", role: "dialog", "aria-modal": "true", "aria-labelledby": "dialog-title", "data-testid": "confirm-dialog" },
      h(
        "div",
        { class: "card dialog" },
        h("h2", { id: "dialog-title" }, title),
        h("p", {}, text),
        h("div", { class: "row end" }, h("button", { "data-testid": "confirm-cancel", class: "ghost", onclick: () => done(false) }, "Cancel"), okButton),
      ),
    );
    overlay.addEventListener("keydown", (e) => {
      if ((e as KeyboardEvent).key === "Escape") done(false);
    });
    document.body.append(overlay);
    okButton.focus();
  });
}

/** A message at the bottom for five seconds. */
export function toast(text: string, ms = 5000): HTMLElement {
  const t = h("div", { class: "toast", role: "status", "data-testid": "toast" }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), ms);
  return t;
}
