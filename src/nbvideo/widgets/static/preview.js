// Live preview player, shared by views that show the film (prepended by esm() before the
// view's own file). Play asks the kernel for a range (`preview_range`); the kernel pushes
// each 360p piece as a `preview_piece` message as soon as it is on disk, in playing order,
// and the player starts on the first while the others render. Two video elements take
// turns, the next piece loading in the hidden one, so pieces follow each other with no
// gap. The soundtrack comes last (`preview_sound`) and is kept in step with the picture.
// Scrubbing shows the frame under the playhead from the scrub strip (`scrub_strip`, small
// JPEGs fetched once per state of the timeline): no render, no kernel round trip.
/** @import { AnyModel } from "@anywidget/types" */

/**
 * @typedef {{ start_s: number, end_s: number, url: string, index: number }} LivePiece
 * @typedef {{ el: HTMLElement, play: (from_s: number) => void, stop: () => void,
 *   scrubTo: (t: number) => void, stale: () => void, setTotal: (s: number, fps: number) => void,
 *   dispose: () => void }} LivePlayer
 */

/**
 * @param {AnyModel} model
 * @param {(kind: string, fields: Record<string, any>) => Promise<any>} act request/reply
 * @param {(t: number) => void} onTime the film time shown (playing or scrubbed)
 * @returns {LivePlayer}
 */
function livePlayer(model, act, onTime) {
  /** @type {HTMLVideoElement[]} */
  const decks = [0, 1].map((k) => /** @type {HTMLVideoElement} */ (h("video", {
    "data-role": "live-video", "data-deck": String(k), muted: true, playsinline: true,
    "aria-label": "Live preview", hidden: k === 1 })));
  const audio = /** @type {HTMLAudioElement} */ (h("audio", { "data-role": "live-sound", preload: "auto" }));
  const frame = /** @type {HTMLImageElement} */ (h("img", { "data-role": "scrub-frame", alt: "Frame under the playhead", hidden: true }));
  const btn = h("button", { type: "button", "data-action": "live-play", text: "▶ Live preview" });
  const scrub = /** @type {HTMLInputElement} */ (h("input", { type: "range", "data-role": "scrub", min: "0", max: "1",
    step: "0.01", value: "0", "aria-label": "Scrub the film" }));
  const status = h("span", { class: "nbv-muted", "data-role": "live-status", "aria-live": "polite" });
  const el = h("div", { class: "nbv-live", "aria-label": "Live preview" },
    h("div", { class: "nbv-live-screen" }, ...decks, frame), audio,
    h("div", { class: "nbv-actions" }, btn, scrub, status));
  /** @type {LivePiece[]} */
  let queue = [];
  let token = "";
  let current = -1; // index in queue of the piece on screen
  let deck = 0;
  let playing = false;
  let total = 0;
  let fps = 30;
  let from = 0;
  /** @type {{ times: number[], urls: string[] } | null} */
  let strip = null;
  let stripLoading = /** @type {Promise<void> | null} */ (null);
  let stripStale = false;
  let soundUrl = "";
  /** @type {string[]} */
  let pieceUrls = [];

  const filmTime = () => {
    const p = queue[current];
    return p ? p.start_s + decks[deck].currentTime : from;
  };

  /** Load the piece after the one on screen into the hidden deck. */
  function preload() {
    const next = queue[current + 1];
    const other = decks[1 - deck];
    if (next && other.dataset.piece !== String(next.index)) {
      other.src = next.url;
      other.dataset.piece = String(next.index);
      other.load();
    }
  }
  /** Show piece `i` (on the hidden deck if it was preloaded there) and play it. */
  function show(/** @type {number} */ i, /** @type {number} */ offset) {
    const p = queue[i];
    if (!p) return;
    const other = decks[1 - deck];
    const into = current >= 0 && other.dataset.piece === String(p.index) ? 1 - deck : deck;
    const v = decks[into];
    if (v.dataset.piece !== String(p.index)) {
      v.src = p.url;
      v.dataset.piece = String(p.index);
    }
    decks[1 - into].pause();
    decks[1 - into].hidden = true;
    v.hidden = false;
    frame.hidden = true;
    deck = into;
    current = i;
    v.currentTime = Math.max(0, offset);
    if (playing) v.play().catch(() => {});
    syncSound();
    preload();
  }
  function syncSound() {
    if (!soundUrl) return;
    const t = filmTime();
    if (Math.abs(audio.currentTime - t) > 0.08) audio.currentTime = t;
    if (playing) audio.play().catch(() => {}); else audio.pause();
  }
  for (const v of decks) {
    v.addEventListener("timeupdate", () => { if (v === decks[deck]) onTime(filmTime()); });
    v.addEventListener("ended", () => {
      if (v !== decks[deck] || !playing) return;
      if (queue[current + 1]) show(current + 1, 0);
      else if (queue.length && queue[queue.length - 1].end_s >= total - 1e-6) stop();
      else status.textContent = "waiting for the next piece…";
    });
  }

  model.on("msg:custom", onMsg);
  /** @param {any} msg @param {DataView[]} buffers */
  function onMsg(msg, buffers) {
    if (!msg || msg.token !== token) return;
    if (msg.kind === "preview_piece" && buffers?.[0]) {
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "video/mp4" }));
      pieceUrls.push(url);
      queue.push({ start_s: msg.start_s, end_s: msg.end_s, url, index: msg.index });
      if (current < 0) {
        status.textContent = "";
        show(0, Math.max(0, from - msg.start_s));
      } else if (current === queue.length - 2 && decks[deck].ended && playing) {
        show(current + 1, 0); // the player waited for this piece
      } else {
        preload();
      }
    } else if (msg.kind === "preview_sound" && buffers?.[0]) {
      if (soundUrl) URL.revokeObjectURL(soundUrl);
      soundUrl = URL.createObjectURL(new Blob([buffers[0]], { type: "audio/mp4" }));
      audio.src = soundUrl;
      audio.addEventListener("loadedmetadata", syncSound, { once: true });
    }
  }

  function reset() {
    for (const u of pieceUrls) URL.revokeObjectURL(u);
    pieceUrls = [];
    queue = [];
    current = -1;
    for (const v of decks) { v.pause(); v.removeAttribute("src"); delete v.dataset.piece; }
  }
  /** Play the film from `from_s` to its end (pieces arrive as they render). */
  function play(/** @type {number} */ from_s) {
    reset();
    from = Math.max(0, Math.min(from_s, Math.max(0, total - 1 / fps)));
    token = Math.random().toString(36).slice(2, 10);
    playing = true;
    btn.textContent = "❚❚ Pause";
    btn.setAttribute("aria-pressed", "true");
    status.textContent = "rendering…";
    const mine = token;
    act("preview_range", { start_s: from, token: mine }).then((reply) => {
      if (mine !== token) return;
      if (!reply.ok) { stop(); status.textContent = ""; return; }
      const r = reply.result || {};
      status.textContent = `${r.pieces} pieces, ${r.rendered} rendered now`;
    });
  }
  function stop() {
    playing = false;
    for (const v of decks) v.pause();
    audio.pause();
    btn.textContent = "▶ Live preview";
    btn.setAttribute("aria-pressed", "false");
  }
  btn.addEventListener("click", () => {
    if (playing) { stop(); return; }
    play(Number(scrub.value) >= total - 1 / fps ? 0 : Number(scrub.value));
  });

  /** The scrub strip, fetched once per state of the timeline. */
  function loadStrip() {
    if (stripLoading) return stripLoading;
    stripLoading = act("scrub_strip", {}).then((reply) => {
      if (!reply.ok) return;
      if (strip) for (const u of strip.urls) URL.revokeObjectURL(u);
      strip = {
        times: reply.result.times,
        urls: reply.buffers.map((/** @type {DataView} */ b) => URL.createObjectURL(new Blob([b], { type: "image/jpeg" }))),
      };
      stripStale = false;
    }).finally(() => { stripLoading = null; });
    return stripLoading;
  }
  /** Show the strip image at film time `t` (the last one at or before it). */
  let wanted = 0; // the film time last scrubbed to (the slider rounds to its step)
  function scrubTo(/** @type {number} */ t) {
    if (playing) stop();
    wanted = t;
    scrub.value = String(t);
    onTime(t);
    if (!strip || stripStale) loadStrip().then(() => paint(wanted));
    if (strip) paint(t);
  }
  function paint(/** @type {number} */ t) {
    if (!strip || !strip.times.length) return;
    let lo = 0, hi = strip.times.length - 1;
    while (lo < hi) { // the last time <= t
      const mid = (lo + hi + 1) >> 1;
      if (strip.times[mid] <= t + 1e-6) lo = mid; else hi = mid - 1;
    }
    frame.src = strip.urls[lo];
    frame.dataset.t = String(strip.times[lo]);
    frame.hidden = false;
    for (const v of decks) v.hidden = true;
  }
  scrub.addEventListener("input", () => scrubTo(Number(scrub.value)));

  return {
    el, play, stop, scrubTo,
    /** The timeline changed: the next scrub fetches a new strip, a new play new pieces. */
    stale() { stripStale = true; },
    setTotal(s, f) {
      total = s; fps = f || 30;
      scrub.max = String(Math.max(0, s - 1 / fps));
      scrub.step = String(1 / fps);
    },
    dispose() {
      stop();
      reset();
      model.off("msg:custom", onMsg);
      if (strip) for (const u of strip.urls) URL.revokeObjectURL(u);
      if (soundUrl) URL.revokeObjectURL(soundUrl);
    },
  };
}
