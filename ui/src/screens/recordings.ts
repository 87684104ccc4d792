// Recordings: the mentor's past classes, and a player for the one chosen; below them the
// local copies on this computer, played with the system's player or shown in their folder.
import { call, errorOf } from "../api";
import type { LocalCopyView, RecordingView } from "../bindings";
import type { Ctx, Mounted } from "../context";
import { clear, h } from "../dom";
import type { RecordingsState } from "../store";
import { formatDate, formatDuration, num, recordingSubtitle } from "../state";

export function mountRecordings(root: HTMLElement, ctx: Ctx): Mounted {
  const { store, api } = ctx;
  let mounted = true;
  const list = h("div", { class: "recordings", "data-testid": "recordings-list" });
  const player = h("section", { class: "player card", "data-testid": "player" });
  const refresh = h("button", { class: "ghost small", "data-testid": "refresh-recordings", onclick: () => void load() }, "Refresh");
  const local = h("div", { class: "local-copies", "data-testid": "local-copies" });
  clear(
    root,
    h(
      "div",
      { class: "recordings-page", "data-testid": "screen-recordings" },
      h("div", { class: "list-col" }, h("div", { class: "row" }, h("h2", {}, "Recordings"), refresh), list, h("h3", {}, "On this computer"), local),
      player,
    ),
  );

  const cards = new Map<number, HTMLElement>();
  const card = (r: RecordingView) => {
    const el = h(
      "button",
      { class: "recording card", "data-id": r.id, "data-testid": "recording", onclick: () => store.dispatch({ type: "recordings/selected", id: r.id }) },
      h("img", { src: r.thumbnail_url, alt: "", class: "thumb", loading: "lazy", "data-testid": "recording-thumb" }),
      h("div", { class: "meta" }, h("strong", {}, formatDate(r.started_at)), h("span", { class: "muted" }, recordingSubtitle(r))),
    );
    cards.set(r.id, el);
    return el;
  };

  const renderList = (l: RecordingsState["list"]) => {
    cards.clear();
    switch (l.status) {
      case "idle":
      case "loading":
        return clear(list, h("p", { class: "muted" }, "Loading recordings…"));
      case "error":
        return clear(list, h("p", { class: "error", "data-testid": "recordings-error" }, l.message));
      case "ready":
        if (l.data.length === 0) return clear(list, h("p", { class: "muted", "data-testid": "no-recordings" }, "No recordings yet: they appear here a minute after a class ends."));
        return clear(list, ...l.data.map(card));
    }
  };

  const renderPlayer = (r: RecordingView | null) => {
    for (const [id, el] of cards) el.classList.toggle("selected", id === r?.id);
    if (!r) return clear(player, h("p", { class: "muted" }, "Choose a recording to play it here."));
    clear(
      player,
      h("h3", {}, `${formatDate(r.started_at)} · ${formatDuration(num(r.duration_s))}`),
      h("video", { controls: true, preload: "metadata", src: r.url, autoplay: true, "data-testid": "player-video" }),
      h(
        "div",
        { class: "stats-row" },
        h("span", {}, `Viewers: ${r.viewers_total} total, peak ${r.viewers_peak}`),
        r.avg_play_time_s != null ? h("span", {}, `Average watch time: ${formatDuration(r.avg_play_time_s)}`) : null,
        h("span", { class: "muted" }, `${(r.size_bytes / 1e6).toFixed(1)} MB`),
      ),
    );
  };

  const open = async (c: LocalCopyView, reveal: boolean) => {
    try {
      await call(api.openLocalCopy(c.path, reveal));
    } catch (e) {
      ctx.toast(errorOf(e));
    }
  };
  const localItem = (c: LocalCopyView) =>
    h(
      "div",
      { class: "local-copy card", "data-testid": "local-copy-item", "data-path": c.path, title: c.path },
      h(
        "div",
        { class: "meta" },
        h("strong", {}, formatDate(c.ended_at)),
        h("span", { class: "muted", "data-testid": "local-copy-meta" }, `${c.duration_s != null ? formatDuration(c.duration_s) : "–"} · ${(c.size_bytes / 1e6).toFixed(1)} MB`),
      ),
      h("button", { class: "ghost small", "data-testid": "local-copy-play", onclick: () => void open(c, false) }, "Play"),
      h("button", { class: "ghost small", "data-testid": "local-copy-reveal", onclick: () => void open(c, true) }, "Show in folder"),
    );
  const renderLocal = (l: RecordingsState["local"]) => {
    switch (l.status) {
      case "idle":
      case "loading":
        return clear(local, h("p", { class: "muted" }, "Looking for local copies…"));
      case "error":
        return clear(local, h("p", { class: "error", "data-testid": "local-copies-error" }, l.message));
      case "ready":
        if (l.data.length === 0) return clear(local, h("p", { class: "muted", "data-testid": "no-local-copies" }, "No local copies: Settings turns them on."));
        return clear(local, ...l.data.map(localItem));
    }
  };

  const selectedOf = (s: RecordingsState) => (s.list.status === "ready" ? (s.list.data.find((r) => r.id === s.selected) ?? null) : null);
  const render = (s: RecordingsState, prev: RecordingsState | null) => {
    if (!prev || s.list !== prev.list) renderList(s.list);
    if (!prev || s.list !== prev.list || s.selected !== prev.selected) renderPlayer(selectedOf(s));
    if (!prev || s.local !== prev.local) renderLocal(s.local);
  };

  const loadLocal = async () => {
    try {
      const items = await call(api.listLocalCopies());
      if (mounted) store.dispatch({ type: "local/loaded", items });
    } catch (e) {
      if (mounted) store.dispatch({ type: "local/failed", message: errorOf(e) });
    }
  };
  const load = async () => {
    void loadLocal();
    store.dispatch({ type: "recordings/loading" });
    try {
      const items = await call(api.listRecordings());
      if (mounted) store.dispatch({ type: "recordings/loaded", items });
    } catch (e) {
      if (mounted) store.dispatch({ type: "recordings/failed", message: errorOf(e) });
    }
  };

  void load(); // says "loading" at once, before the first render
  render(store.get().recordings, null);
  const off = store.subscribe((s, prev) => {
    if (s.recordings !== prev.recordings) render(s.recordings, prev.recordings);
  });
  return {
    unmount() {
      mounted = false;
      off();
    },
  };
}
