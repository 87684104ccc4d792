// The preview <img> and the app's MJPEG stream. WebKit keeps reading an <img>'s
// multipart load after its src changes or the element leaves the page, so the
// app ends the stream (release) whenever the preview is not on screen, and each
// attach loads a new URL (a fresh request, never a cached image). A release
// still in flight must not end the stream attached after it: attaches wait.

export interface PreviewBackend {
  url(): Promise<string>;
  release(): Promise<unknown>;
}

export class PreviewLink {
  private base: string | null = null;
  private n = 0;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(private readonly backend: PreviewBackend) {}

  /** Shows the stream in `img` (after any release asked before). */
  async attach(img: HTMLImageElement): Promise<void> {
    const n = ++this.n;
    await this.pending.catch(() => undefined);
    this.base = this.base ?? (await this.backend.url());
    if (n !== this.n) return; // released or attached again meanwhile
    img.src = `${this.base}?v=${n}`;
  }

  /** Stops showing: `img` (if still there) lets go, and the app ends the stream. */
  release(img?: HTMLImageElement | null): Promise<unknown> {
    this.n++;
    img?.removeAttribute("src");
    this.pending = this.backend.release();
    return this.pending;
  }
}
