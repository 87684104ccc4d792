// The WebDriver end to end (tests/app/e2e.py, tests/app/bench.py) finds elements by
// data-testid. It needs the built app to run; this checks here that every address it uses
// is on a page the app shows, so a rename cannot break it unseen.
import { afterEach, describe, expect, it, vi } from "vitest";
import { confirmDialog, toast } from "./components";
import { mountShell } from "./shell";
import { fakeCtx, flush, localCopy, me, ok, recording, status } from "./testing";

vi.mock("./chart", () => ({ drawChart: vi.fn() }));

/** The driver's source (Node's fs: the test runs in Node; the app's types do not include it). */
async function source(rel: string): Promise<string> {
  const fs = (await import(/* @vite-ignore */ "node:" + "fs")) as { readFileSync(p: URL, enc: "utf8"): string };
  return fs.readFileSync(new URL(rel, import.meta.url), "utf8");
}

/** The test ids a driver uses: tid("…") in Python, $t('…') and [data-testid="…"] in its page scripts. */
function addresses(py: string): Set<string> {
  const out = new Set<string>();
  for (const re of [/tid\("([a-z0-9-]+)"\)/g, /\$t\('([a-z0-9-]+)'\)/g, /data-testid=\\"([a-z0-9-]+)\\"/g]) for (const m of py.matchAll(re)) out.add(m[1]);
  return out;
}

afterEach(() => document.body.replaceChildren());

describe("the e2e's addresses", () => {
  it("the drivers find elements by data-testid only (no ids or classes)", async () => {
    for (const f of ["../../tests/app/e2e.py", "../../tests/app/bench.py"]) {
      const py = await source(f);
      expect(py).not.toMatch(/getElementById|(click|type|text|wait_text|find)\("[#.]|querySelector(All)?\('[#.]/);
    }
  });

  it("every one is on a screen the app shows", async () => {
    const used = new Set([...addresses(await source("../../tests/app/e2e.py")), ...addresses(await source("../../tests/app/bench.py"))]);
    expect(used.size).toBeGreaterThan(30);

    const seen = new Set<string>();
    const collect = () => document.querySelectorAll<HTMLElement>("[data-testid]").forEach((e) => seen.add(e.dataset.testid!));
    const root = document.createElement("div");
    document.body.append(root);
    const ctx = fakeCtx({
      api: {
        signIn: (u: string) => ok(u === "newmentor" ? { step: "new_password_required" as const, rules: "At least 10 characters." } : { step: "mfa_required" as const }),
        listRecordings: () => ok([recording(1)]),
        listLocalCopies: () => ok([localCopy()]),
      },
    });
    ctx.confirm = confirmDialog;
    ctx.toast = (t) => void toast(t);
    const shell = mountShell(root, ctx);
    const $ = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`)!;
    const signIn = async (user: string) => {
      ($("username") as HTMLInputElement).value = user;
      ($("password") as HTMLInputElement).value = "pw";
      ($("signin-form") as HTMLFormElement).requestSubmit();
      await flush();
    };

    ctx.store.dispatch({ type: "session/signed-out", notice: "Signed out." });
    collect();
    await signIn("newmentor");
    collect();
    $("signin-back").click();
    await signIn("mfamentor");
    collect();

    ctx.store.dispatch({ type: "session/entered", me: me() });
    await flush();
    ctx.store.dispatch({ type: "status/received", status: status("live") });
    ctx.toast("A toast.");
    collect();
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "e", ctrlKey: true, bubbles: true }));
    await flush();
    collect();
    $("confirm-cancel").click();

    $("tab-recordings").click();
    await flush();
    $("recording").click();
    collect();
    $("tab-settings").click();
    await flush();
    collect();
    shell.unmount();

    expect([...used].filter((id) => !seen.has(id))).toEqual([]);
  });
});
