// What the screens are given: the store, the app's commands and the few effects around them
// (main.ts passes the real ones; tests pass fakes).
import type { Api } from "./api";
import type { PreviewLink } from "./preview";
import type { Store } from "./store";

/** Runs jobs one at a time, in the order asked (a failed job does not stop the next). */
export class Serial {
  private last: Promise<void> = Promise.resolve();
  run(job: () => Promise<void>): Promise<void> {
    this.last = this.last.then(job, job);
    return this.last;
  }
}

export interface Ctx {
  store: Store;
  api: Api;
  /** The preview <img>'s MJPEG stream (one for the app's life). */
  preview: PreviewLink;
  /** Preview restarts run one at a time (device changes, tab switches and the end of a broadcast may ask at once). */
  previewJobs: Serial;
  toast(text: string): void;
  confirm(title: string, text: string, ok: string, okTestId?: string): Promise<boolean>;
  copyText(text: string): Promise<void>;
}

/** A screen on the page: `unmount` takes it off (listeners, subscriptions, streams). */
export interface Mounted {
  unmount(): void;
}
