// A tiny DOM helper: elements from data with textContent only (never innerHTML).
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "class") el.className = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

export function clear(el: Element, ...children: (Node | string)[]): void {
  el.replaceChildren(...children);
}

/** The CSS selector of a `data-testid` (what the e2e and the tests find elements by). */
export function tid(id: string): string {
  return `[data-testid="${id}"]`;
}

/** The element with that `data-testid` under `root`. */
export function byTestId<T extends HTMLElement = HTMLElement>(root: ParentNode, id: string): T | null {
  return root.querySelector<T>(tid(id));
}

/** Sets the text only when it differs: rewriting equal text still replaces the text node,
 * and every such change is a repaint (in software, without a GPU) of that box. */
export function setText(el: Element | null, text: string): void {
  if (el && el.textContent !== text) el.textContent = text;
}

/** Sets the class list only when it differs (as setText). */
export function setClass(el: Element | null, cls: string): void {
  if (el && el.className !== cls) el.className = cls;
}
