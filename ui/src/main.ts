// Mentorcast's window: wires the store to Rust's events and the commands, and mounts the shell
// (the screens are in screens/, the state and its reducer in store.ts).
import { call, commands, events } from "./api";
import { confirmDialog, toast } from "./components";
import { Serial } from "./context";
import type { Ctx } from "./context";
import { PreviewLink } from "./preview";
import { boot, mountShell } from "./shell";
import { Store } from "./store";

/** Resolves after two animation frames: what is on screen is then painted (screenshots wait on this). */
export function painted(): Promise<void> {
  return new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
}
(window as unknown as { mentorcastPainted: () => Promise<void> }).mentorcastPainted = painted;

const store = new Store();
const ctx: Ctx = {
  store,
  api: commands,
  // the preview <img> shows the app's MJPEG stream; released whenever it is off screen (see preview.ts)
  preview: new PreviewLink({ url: () => call(commands.previewUrl()), release: () => call(commands.releasePreview()) }),
  previewJobs: new Serial(),
  toast: (text) => void toast(text),
  confirm: confirmDialog,
  copyText: (text) => navigator.clipboard.writeText(text),
};

void events.broadcastStatusEvent.listen((e) => store.dispatch({ type: "status/received", status: e.payload }));
void events.viewersEvent.listen((e) => store.dispatch({ type: "viewers/received", viewers: e.payload }));
void events.micLevelEvent.listen((e) => store.dispatch({ type: "mic/level", level: e.payload }));

mountShell(document.getElementById("app")!, ctx);
void boot(ctx);
