// ClipGrid view: a tile per scene with live status, elapsed time, cost and a preview.
/** @import { Render, AnyModel } from "@anywidget/types" */

/**
 * @typedef {{ number: number, title: string, status: string, message: string,
 *   started_ms: number | null, ended_ms: number | null, cost_usd: number,
 *   take_id: string | null, in_job: boolean, badges?: {kind: string, text: string}[] }} Tile
 */

const LABELS = /** @type {Record<string, string>} */ ({
  idle: "no clip yet", queued: "queued", starting: "starting", processing: "processing",
  succeeded: "succeeded", cached: "succeeded (reused)", failed: "failed", canceled: "canceled",
});
const ACTIVE = ["queued", "starting", "processing"];

/** @type {Render} */
function render({ model, el }) {
  const api = client(model);
  const urls = new UrlCache();
  const err = errorLine(model);
  const live = h("div", { class: "nbv-sr", "aria-live": "polite" });
  const bar = h("progress", { class: "nbv-progress", "aria-label": "Clips done", max: 1, value: 0 });
  const counts = h("span", { "data-role": "counts" });
  const clock = h("span", { "data-role": "elapsed" });
  const money = h("span", { "data-role": "spend" });
  const cancelAll = h("button", { type: "button", class: "nbv-danger", "data-action": "cancel-all", text: "Cancel all" });
  const list = h("ol", { class: "nbv-tiles", "aria-label": "Clips" });
  const root = h("div", { class: "nbv nbv-grid" },
    h("div", { class: "nbv-head" }, h("strong", { text: "Clips" }), bar, counts, clock, money, cancelAll),
    err.el, list, live);
  ownKeys(root);
  el.append(root);

  /** @type {Map<AnyModel, ReturnType<typeof makeTile>>} */
  const tiles = new Map();
  /** @param {string} kind @param {Record<string, any>} fields */
  async function act(kind, fields) {
    const reply = await api.request(kind, fields);
    if (!reply.ok) err.show(reply.error || `${kind} refused`);
    return reply;
  }

  const seen = typeof IntersectionObserver === "function"
    ? new IntersectionObserver((entries) => {
      for (const e of entries) if (e.isIntersecting) /** @type {any} */ (e.target).nbvVisible?.();
    }, { rootMargin: "200px" })
    : null;

  /** @param {AnyModel} part */
  function makeTile(part) {
    const id = part.get("key");
    const num = h("span", { class: "nbv-num" });
    const name = h("span");
    const img = h("img", { alt: "" });
    const video = h("video", { muted: true, loop: true, playsinline: true, preload: "metadata", hidden: true });
    const state = h("span", { class: "nbv-state" });
    const elapsed = h("span", { "data-role": "elapsed" });
    const cost = h("span", { "data-role": "cost" });
    const msg = h("div", { class: "nbv-tile-msg", hidden: true });
    const retry = h("button", { type: "button", "data-action": "retry", text: "Retry" });
    const cancel = h("button", { type: "button", class: "nbv-danger", "data-action": "cancel", text: "Cancel" });
    const again = h("button", { type: "button", "data-action": "regenerate", text: "New take" });
    const badgeBox = h("div", { class: "nbv-badges", "data-role": "badges", hidden: true });
    const li = h("li", { class: "nbv-card nbv-tile", "data-scene-id": id },
      img, video, h("div", {}, num, " ", name), badgeBox,
      h("div", {}, state, " · ", elapsed, " · ", cost), msg,
      h("div", { class: "nbv-actions" }, retry, cancel, again));
    let asked = "";
    let visible = !seen;

    function wantPreview() {
      /** @type {Tile} */
      const t = part.get("tile");
      const has = (part.get("preview") || { byteLength: 0 }).byteLength > 0;
      if (!visible || has || !t.take_id || asked === t.take_id) return;
      if (t.status !== "succeeded" && t.status !== "cached") return;
      asked = t.take_id;
      act("preview", { scene: id });
    }
    /** @type {any} */ (li).nbvVisible = () => { visible = true; wantPreview(); };

    function draw() {
      /** @type {Tile} */
      const t = part.get("tile");
      const before = li.dataset.status;
      li.dataset.status = t.status;
      num.textContent = String(t.number);
      name.textContent = t.title;
      showBadges(badgeBox, t.badges);
      state.textContent = LABELS[t.status] || t.status;
      cost.textContent = fmtUsd(t.cost_usd);
      msg.textContent = t.message;
      msg.hidden = !t.message || t.status !== "failed";
      const active = ACTIVE.includes(t.status);
      cancel.hidden = !active;
      retry.hidden = active || t.status === "succeeded" || t.status === "cached";
      again.hidden = active || !t.take_id;
      li.setAttribute("aria-label", `Scene ${t.number}: ${t.title}, ${LABELS[t.status] || t.status}`);
      img.setAttribute("alt", `Frame of scene ${t.number}`);
      video.setAttribute("aria-label", `Preview of scene ${t.number}`);
      retry.setAttribute("aria-label", `Retry the clip of scene ${t.number}`);
      cancel.setAttribute("aria-label", `Cancel the clip of scene ${t.number}`);
      again.setAttribute("aria-label", `Make a new take of scene ${t.number}'s clip`);
      if (before && before !== t.status) announce(live, `Scene ${t.number}: ${LABELS[t.status] || t.status}`);
      tick();
      wantPreview();
    }
    function tick() {
      /** @type {Tile} */
      const t = part.get("tile");
      if (!t.started_ms) { elapsed.textContent = "–"; return; }
      elapsed.textContent = fmtClock(((t.ended_ms ?? Date.now()) - t.started_ms) / 1000);
    }
    function media() {
      const pUrl = urls.get(`${id}:poster`, part.get("poster"), "image/jpeg");
      const vUrl = urls.get(`${id}:preview`, part.get("preview"), "video/mp4");
      if (pUrl) { img.setAttribute("src", pUrl); video.setAttribute("poster", pUrl); }
      video.hidden = !vUrl;
      img.hidden = Boolean(vUrl) || !pUrl;
      if (vUrl && video.getAttribute("src") !== vUrl) video.setAttribute("src", vUrl);
      if (!vUrl) asked = asked === part.get("tile").take_id ? asked : "";
    }
    // The player's controls show while the tile is pointed at or holds focus (or plays), so a
    // grid of paused previews reads as a wall of frames, not of identical control bars.
    const v = /** @type {HTMLVideoElement} */ (video);
    const controls = (/** @type {boolean} */ on) => v.toggleAttribute("controls", on || !v.paused);
    li.addEventListener("pointerenter", () => controls(true));
    li.addEventListener("pointerleave", () => controls(li.contains(document.activeElement)));
    li.addEventListener("focusin", () => controls(true));
    li.addEventListener("focusout", (e) => controls(li.contains(/** @type {Node | null} */ (e.relatedTarget))));
    v.addEventListener("pause", () => controls(li.matches(":hover") || li.contains(document.activeElement)));
    retry.addEventListener("click", () => act("retry", { scene: id }));
    cancel.addEventListener("click", () => act("cancel", { scene: id }));
    again.addEventListener("click", () => act("regenerate", { scene: id }));
    part.on("change:tile", draw);
    part.on("change:poster", media);
    part.on("change:preview", media);
    seen?.observe(li);
    media();
    draw();
    return {
      li, tick,
      dispose() {
        seen?.unobserve(li);
        part.off("change:tile", draw);
        part.off("change:poster", media);
        part.off("change:preview", media);
        li.remove();
      },
    };
  }

  let generation = 0;
  async function syncTiles() {
    const mine = ++generation;
    const parts = await loadParts(model, model.get("tiles"));
    if (mine !== generation) return;
    for (const [part, tile] of tiles) if (!parts.includes(part)) { tile.dispose(); tiles.delete(part); }
    for (const part of parts) if (!tiles.has(part)) tiles.set(part, makeTile(part));
    list.replaceChildren(...parts.map((p) => /** @type {any} */ (tiles.get(p)).li));
  }

  function drawProgress() {
    const p = model.get("progress") || {};
    bar.setAttribute("max", String(Math.max(1, p.total || 0)));
    bar.setAttribute("value", String(p.done || 0));
    bar.setAttribute("aria-valuetext", `${p.done || 0} of ${p.total || 0} clips done`);
    counts.textContent = `${p.done || 0} of ${p.total || 0} done` +
      (p.running ? ` · ${p.running} running` : "") + (p.queued ? ` · ${p.queued} queued` : "") +
      (p.failed ? ` · ${p.failed} failed` : "") + (p.canceled ? ` · ${p.canceled} canceled` : "") +
      ` · ${p.state || "idle"}`;
    const budget = p.budget_usd === null || p.budget_usd === undefined ? "no budget" : `budget ${fmtUsd(p.budget_usd)}`;
    money.textContent = `spent ${fmtUsd(p.spent_usd || 0)} (${budget}; this run est. ${fmtUsd(p.estimate_usd || 0)})`;
    cancelAll.hidden = p.state !== "running";
    tickAll();
  }
  function tickAll() {
    const p = model.get("progress") || {};
    clock.textContent = p.started_ms ? `elapsed ${fmtClock(((p.ended_ms ?? Date.now()) - p.started_ms) / 1000)}` : "";
    for (const tile of tiles.values()) tile.tick();
  }
  const timer = setInterval(tickAll, 1000);
  cancelAll.addEventListener("click", () => act("cancel", {}));

  model.on("change:tiles", syncTiles);
  model.on("change:progress", drawProgress);
  syncTiles();
  drawProgress();
  return () => {
    clearInterval(timer);
    seen?.disconnect();
    model.off("change:tiles", syncTiles);
    model.off("change:progress", drawProgress);
    for (const tile of tiles.values()) tile.dispose();
    tiles.clear();
    urls.dispose();
    err.dispose();
    api.dispose();
    root.remove();
  };
}

export default { render };
