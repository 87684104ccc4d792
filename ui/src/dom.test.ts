import { describe, expect, it } from "vitest";
import { byTestId, h, setClass, setText, tid } from "./dom";

describe("h()", () => {
  it("never interprets text as HTML", () => {
    const el = h("p", { class: "x", id: "p1" }, "<img src=x onerror=alert(1)>");
    expect(el.querySelector("img")).toBeNull();
    expect(el.textContent).toBe("<img src=x onerror=alert(1)>");
    expect(el.className).toBe("x");
  });

  it("wires events and boolean attributes", () => {
    let clicked = 0;
    const b = h("button", { onclick: () => clicked++, disabled: false, autofocus: true }, "Go");
    b.click();
    expect(clicked).toBe(1);
    expect(b.hasAttribute("disabled")).toBe(false);
    expect(b.hasAttribute("autofocus")).toBe(true);
  });
});

describe("setText() / setClass()", () => {
  it("leave the DOM untouched when nothing changes", () => {
    const el = h("p", { class: "a" }, "Live 00:00:01");
    const node = el.firstChild;
    const mo = new MutationObserver(() => undefined); // read with takeRecords()
    mo.observe(el, { childList: true, characterData: true, subtree: true, attributes: true });
    setText(el, "Live 00:00:01");
    setClass(el, "a");
    expect(mo.takeRecords()).toHaveLength(0);
    expect(el.firstChild).toBe(node);
    setText(el, "Live 00:00:02");
    setClass(el, "b");
    expect(mo.takeRecords().length).toBeGreaterThan(0);
    expect(el.textContent).toBe("Live 00:00:02");
    expect(el.className).toBe("b");
    mo.disconnect();
    setText(null, "x"); // missing elements are ignored
  });
});

describe("tid() / byTestId()", () => {
  it("find an element by its data-testid, under the root only", () => {
    const inside = h("button", { "data-testid": "go-live" }, "Go Live");
    const root = h("div", {}, h("section", {}, inside));
    const other = h("div", {}, h("button", { "data-testid": "go-live" }));
    expect(tid("go-live")).toBe('[data-testid="go-live"]');
    expect(byTestId(root, "go-live")).toBe(inside);
    expect(byTestId(other, "go-live")).not.toBe(inside);
    expect(byTestId(root, "end")).toBeNull();
  });
});
