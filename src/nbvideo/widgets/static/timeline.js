// Timeline view: a ruler, one lane per track (drawn by a renderer per track kind), a
// preview player that plays the clips' low-res previews in order, the live preview (the
// edited film at 360p, pieces rendered on demand; livePlayer in preview.js) with scrubbing on
// the ruler, and the export panel.
/** @import { Render, AnyModel } from "@anywidget/types" */

/**
 * @typedef {{ number: number, title: string, take_id: string | null, source_s: number,
 *   in_s: number, out_s: number, kept_s: number, start_s: number, end_s: number, text: string,
 *   transition: { kind: string, duration_s: number } | null }} Clip
 * @typedef {{ part: AnyModel, id: string, clip: Clip }} Item
 * @typedef {{ kind: string, duration_s: number }} Transition
 * @typedef {{ bytes: Map<string, DataView>, shown: string, load: (kind: string) => void }} Strips
 * @typedef {{ items: Item[], scale: number, fps: number,
 *   act: (k: string, f: Record<string, any>, b?: ArrayBuffer[]) => Promise<any>,
 *   urls: UrlCache, info: Record<string, any>, pending: Map<string, { value: number, timer: number }>,
 *   drafts: Map<string, string>, cutDrafts: Map<string, Transition>, music: { busy: string },
 *   strips: Strips,
 *   width: number, redraw: () => void,
 *   fail: (msg: string) => void }} Ctx
 */

const LABEL_W = 56;
const MIN_SCALE = 8; // px per second
const MAX_SCALE = 400;
const CUT_W = 60; // px: a cut's control (kind and seconds), as .nbv-cut in the CSS
const CUT_ROW_H = 46;

/**
 * Track renderers by kind: each fills its lane and may return extra rows to show below it.
 * @type {Record<string, (lane: HTMLElement, ctx: Ctx, track: Record<string, any>) => HTMLElement[]>}
 */
const TRACKS = { clips: drawClipTrack, items: drawItemsTrack, text: drawTextTrack, music: drawMusicTrack };
const SNAP_PX = 8; // a dragged start or end this close to a cut, an item's edge, a beat or a word sticks to it

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * A sound's waveform as an SVG filling its block: `wave` is min, max per bucket as
 * integers from -127 to 127 (the widget's state), drawn as one filled outline.
 * @param {number[]} wave @returns {SVGSVGElement}
 */
function waveform(wave) {
  const n = Math.floor(wave.length / 2);
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "nbv-wave");
  svg.setAttribute("viewBox", `0 0 ${Math.max(1, n)} 256`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  svg.dataset.buckets = String(n);
  const top = [], bottom = [];
  for (let i = 0; i < n; i++) {
    // at least a hairline, so silence reads as a flat line rather than nothing
    const hi = Math.max(wave[2 * i + 1], 1), lo = Math.min(wave[2 * i], -1);
    top.push(`${i + 0.5},${128 - hi}`);
    bottom.push(`${i + 0.5},${128 - lo}`);
  }
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", n ? `M${top.join("L")}L${bottom.reverse().join("L")}Z` : "");
  svg.append(path);
  return svg;
}

/**
 * An overlay (V2..) or audio track: its items as blocks at their times. Drag a block to move
 * it, drag its edges to trim it; both snap to the cuts, the other items' edges, the music's
 * beats and the spoken words (`track.snaps`) and to whole frames; a sound shows its waveform,
 * the voice track its spoken lines and the clips track the scene clips' own sound, and are sent when the pointer is let go (one history step each). Alt+Arrow moves the
 * focused block by a frame (Shift: half a second). Mute and solo (audio) in the row under it.
 * @param {HTMLElement} lane @param {Ctx} ctx @param {Record<string, any>} track
 * @returns {HTMLElement[]}
 */
function drawItemsTrack(lane, ctx, track) {
  const { scale, fps } = ctx;
  /** @param {number} v */
  const frame = (v) => Math.max(0, Math.round(v * fps) / fps);
  for (const line of track.lines || []) {
    // spoken voice lines and the scene clips' own sound sit under the items: they move with
    // their scene, not by dragging
    const el = h("div", { class: "nbv-line", "data-scene-id": line.scene, role: "img",
      "aria-label": `${line.label || "Voice line"}, ${fmtSeconds(line.start_s)} to ${fmtSeconds(line.end_s)}`,
      style: `position:absolute;left:${line.start_s * scale}px;width:${Math.max(4, (line.end_s - line.start_s) * scale)}px;height:26px` });
    if (line.wave) el.append(waveform(line.wave));
    lane.append(el);
  }
  for (const it of track.items || []) {
    const len = it.end_s - it.start_s;
    const others = (track.snaps || []).filter((/** @type {number} */ t) => t !== it.start_s && t !== it.end_s);
    /** The nearest snap point within SNAP_PX of `t`, else `t` on a whole frame. @param {number} t */
    const snap = (t) => {
      let best = t, dist = SNAP_PX / scale;
      for (const p of others) if (Math.abs(p - t) < dist) { best = p; dist = Math.abs(p - t); }
      return best === t ? frame(t) : best;
    };
    const block = h("div", {
      class: "nbv-item", tabindex: 0, role: "group", "data-item-id": it.id, "data-kind": it.kind,
      "aria-label": `${it.kind} ${it.label} on ${track.label}, ${fmtSeconds(it.start_s)} to ${fmtSeconds(it.end_s)}`,
      "aria-keyshortcuts": "Alt+ArrowLeft Alt+ArrowRight",
      style: `position:absolute;left:${it.start_s * scale}px;width:${Math.max(8, len * scale)}px;height:26px`,
    }, h("span", { class: "nbv-block-label", text: it.label }));
    if (it.wave) block.prepend(waveform(it.wave));
    /** @param {HTMLElement} grip @param {(dx: number) => Record<string, number>} at @param {string} kind */
    const drag = (grip, at, kind) => grip.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      e.stopPropagation();
      grip.setPointerCapture(e.pointerId);
      const x0 = e.clientX;
      /** @type {Record<string, number>} */
      let got = at(0);
      /** @param {PointerEvent} m */
      const move = (m) => {
        got = at((m.clientX - x0) / scale);
        const s = got.start_s ?? it.start_s, end = got.end_s ?? (got.start_s !== undefined && kind === "item_move" ? s + len : it.end_s);
        block.style.left = `${s * scale}px`;
        block.style.width = `${Math.max(8, (end - s) * scale)}px`;
      };
      const up = () => {
        grip.removeEventListener("pointermove", move);
        grip.removeEventListener("pointerup", up);
        const changed = Object.entries(got).some(([k, v]) => v !== it[k]);
        if (changed) ctx.act(kind, { item_id: it.id, ...got }).then((r) => { if (!r.ok) ctx.redraw(); });
      };
      grip.addEventListener("pointermove", move);
      grip.addEventListener("pointerup", up);
    });
    drag(block, (dx) => {
      const s = it.start_s + dx, a = snap(s), b = snap(s + len);
      return { start_s: a !== frame(s) || b === frame(s + len) ? a : b - len };
    }, "item_move");
    for (const edge of ["start", "end"]) {
      const grip = h("button", { type: "button", class: "nbv-trim", "data-edge": edge === "start" ? "in" : "out",
        "aria-label": `Trim the ${edge} of ${it.label}` });
      drag(grip, (dx) => edge === "start"
        ? { start_s: Math.min(snap(it.start_s + dx), it.end_s - 1 / fps) }
        : { end_s: Math.max(snap(it.end_s + dx), it.start_s + 1 / fps) }, "item_trim");
      block.append(grip);
    }
    block.addEventListener("keydown", (e) => {
      if (!e.altKey || !["ArrowLeft", "ArrowRight"].includes(e.key) || e.target !== block) return;
      e.preventDefault();
      const step = (e.shiftKey ? 0.5 : 1 / fps) * (e.key === "ArrowLeft" ? -1 : 1);
      ctx.act("item_move", { item_id: it.id, start_s: frame(it.start_s + step) });
    });
    lane.append(block);
  }
  if (!(track.items || []).length && !(track.lines || []).length) lane.append(h("span", { class: "nbv-muted nbv-lane-note", text: "empty" }));
  lane.style.height = "30px";
  /** @param {"mute" | "solo"} what */
  const toggle = (what) => {
    const b = h("button", { type: "button", "data-action": `${what}-${track.track}`, text: what === "mute" ? "Mute" : "Solo",
      "aria-pressed": track[what] ? "true" : "false", "aria-label": `${what === "mute" ? "Mute" : "Solo"} ${track.label}` });
    b.addEventListener("click", () => ctx.act("track_set", { track: track.track, [what]: !track[what] }));
    return b;
  };
  const controls = [toggle("mute"), ...(track.audio ? [toggle("solo")] : [])];
  return [h("div", { class: "nbv-actions nbv-track-controls", role: "group", "aria-label": `${track.label} track` }, ...controls)];
}

/**
 * A row under a track: a label on the left, then `body` on the time axis.
 * @param {string} id @param {string} label @param {string} aria @param {HTMLElement} body
 */
function subRow(id, label, aria, body) {
  return h("div", { class: "nbv-track nbv-subtrack", "data-track": id, role: "group", "aria-label": aria },
    h("div", { class: "nbv-track-label", text: label }), body);
}

/**
 * The text track: each scene's on-screen text in a field over the scene's time, edited in
 * place (Enter or leaving the field saves; Escape puts the saved text back), and under it the
 * captions as the export burns them: the voice lines, timed to when they are spoken.
 * @param {HTMLElement} lane @param {Ctx} ctx @param {Record<string, any>} track
 * @returns {HTMLElement[]}
 */
function drawTextTrack(lane, ctx, track) {
  const { items, scale } = ctx;
  for (const it of items) {
    const c = it.clip;
    const saved = c.text || "";
    const field = h("input", {
      type: "text", class: "nbv-text-field", "data-field": "on_screen_text",
      value: ctx.drafts.get(it.id) ?? saved, placeholder: "+ text",
      "aria-label": `On-screen text of scene ${c.number}`, title: saved || `Scene ${c.number}: no on-screen text`,
    });
    field.addEventListener("input", () => ctx.drafts.set(it.id, /** @type {HTMLInputElement} */ (field).value));
    field.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); /** @type {HTMLInputElement} */ (field).blur(); }
      else if (e.key === "Escape" && /** @type {HTMLInputElement} */ (field).value !== saved) {
        e.stopPropagation(); // a second Escape leaves the view, as everywhere in the notebook
        ctx.drafts.delete(it.id);
        /** @type {HTMLInputElement} */ (field).value = saved;
      }
    });
    field.addEventListener("change", () => {
      const text = /** @type {HTMLInputElement} */ (field).value;
      ctx.drafts.delete(it.id);
      if (text !== saved) ctx.act("edit_text", { scene: it.id, text });
    });
    lane.append(h("div", {
      class: "nbv-textblock", "data-scene-id": it.id,
      style: `position:absolute;left:${c.start_s * scale}px;width:${Math.max(16, c.kept_s * scale)}px`,
    }, field));
  }
  lane.style.height = "30px";
  const cues = h("div", { class: "nbv-lane", role: "list", style: `position:relative;width:${ctx.width}px;height:26px` });
  if (track.captions) cues.append(h("span", { class: "nbv-muted nbv-lane-note", text: `No captions: ${track.captions}` }));
  for (const [i, cue] of (track.cues || []).entries()) {
    const when = `${fmtSeconds(cue.start_s)} to ${fmtSeconds(cue.end_s)}`;
    cues.append(h("div", {
      class: "nbv-cue", role: "listitem", title: `${when}: ${cue.text}`,
      "aria-label": `Caption ${i + 1}, ${when}: ${cue.text}`,
      style: `left:${cue.start_s * scale}px;width:${Math.max(6, (cue.end_s - cue.start_s) * scale)}px`,
    }, h("span", { text: cue.text })));
  }
  const rows = [subRow("captions", "Captions", "Captions as the export burns them", cues)];
  if (!track.burned) {
    rows.push(h("p", { class: "nbv-help nbv-track-note", text: "On-screen text is kept with each scene; exports burn it in after p.finish(scene_text=True)." }));
  }
  return rows;
}

/**
 * The music track: one block across the film with the music's name, and the controls to
 * choose a file (sent as bytes, checked and kept by the project), go back to the generated
 * bed, or have no music.
 * @param {HTMLElement} lane @param {Ctx} ctx @param {Record<string, any>} track
 * @returns {HTMLElement[]}
 */
function drawMusicTrack(lane, ctx, track) {
  const m = track.music || { source: "none", name: "No music" };
  const total = ctx.info.total_s || 0;
  const detail = m.source === "file" && m.duration_s
    ? ` · ${fmtSeconds(m.duration_s)}${m.loops ? ", looped" : ""}` : "";
  if (m.source !== "none") {
    lane.append(h("div", {
      class: "nbv-musicblock", "data-source": m.source, title: `${m.name}${detail}`,
      "aria-label": `Music: ${m.name}${detail}`, role: "img",
      style: `position:absolute;left:0;width:${Math.max(16, total * ctx.scale)}px`,
    }, ...(track.wave ? [waveform(track.wave)] : []), h("span", { class: "nbv-block-label", text: `♪ ${m.name}${detail}` })));
    // the beats, as ticks: drags snap to them, and the export's music stops on one
    for (const b of track.beats || []) {
      lane.append(h("span", { class: "nbv-beat", "data-beat": String(b), "aria-hidden": "true",
        style: `left:${b * ctx.scale}px` }));
    }
  } else {
    lane.append(h("span", { class: "nbv-muted nbv-lane-note", text: "No music" }));
  }
  lane.style.height = "30px";
  const accept = (track.accept || []).join(",");
  const file = h("input", { type: "file", accept: `${accept},audio/*`, "data-action": "music-file", class: "nbv-file" });
  const choose = h("label", { class: "nbv-filebutton" }, h("span", { text: "Choose music file…" }), file);
  const bed = h("button", { type: "button", "data-action": "music-bed", text: "Use generated bed",
    "aria-pressed": m.source === "bed" ? "true" : "false" });
  const none = h("button", { type: "button", "data-action": "music-none", text: "No music",
    "aria-pressed": m.source === "none" ? "true" : "false" });
  const status = h("span", { class: "nbv-status", role: "status", text: ctx.music.busy });
  file.addEventListener("change", async () => {
    const f = /** @type {HTMLInputElement} */ (file).files?.[0];
    if (!f) return;
    if (f.size > (track.max_bytes || Infinity)) {
      ctx.fail(`music file: ${f.name} is ${(f.size / 1e6).toFixed(1)} MB; the notebook's connection takes up to ` +
        `${(track.max_bytes / 1e6).toFixed(0)} MB, so set a larger file from a cell: p.set_music_file(data, name)`);
      /** @type {HTMLInputElement} */ (file).value = "";
      return;
    }
    ctx.music.busy = `Checking ${f.name}…`;
    status.textContent = ctx.music.busy;
    const reply = await ctx.act("music_file", { filename: f.name }, [await f.arrayBuffer()]);
    ctx.music.busy = reply.ok ? `Music set: ${reply.result?.name ?? f.name}` : "";
    ctx.redraw();
  });
  bed.addEventListener("click", () => ctx.act("music", { source: "bed" }));
  none.addEventListener("click", () => ctx.act("music", { source: "none" }));
  return [h("div", { class: "nbv-actions nbv-music-controls", role: "group", "aria-label": "Music" },
    choose, bed, none, status)];
}

/** @param {HTMLElement} lane @param {Ctx} ctx @returns {HTMLElement[]} */
function drawClipTrack(lane, ctx) {
  const { items, scale, act } = ctx;
  const cuts = h("div", { class: "nbv-cuts", style: "position:relative;height:44px" });
  /** @type {HTMLElement[]} */
  const fades = [];
  const rowEnds = [-Infinity, -Infinity];
  for (const [i, it] of items.entries()) {
    const c = it.clip;
    const block = h("div", {
      class: "nbv-block", tabindex: 0, role: "group", draggable: "true", "data-scene-id": it.id,
      "aria-label": `Clip ${c.number}: ${c.title}, ${fmtSeconds(c.kept_s)} kept of ${fmtSeconds(c.source_s)}`,
      "aria-keyshortcuts": "Alt+ArrowLeft Alt+ArrowRight",
      style: `position:absolute;left:${c.start_s * scale}px;width:${Math.max(16, c.kept_s * scale)}px`,
    });
    const poster = ctx.urls.get(`${it.id}:poster`, it.part.get("poster"), "image/jpeg");
    if (poster) block.style.backgroundImage = `url(${poster})`;
    block.append(h("span", { class: "nbv-block-label", text: `${c.number}. ${c.title}${c.take_id ? "" : " (no clip)"}` }));
    for (const edge of /** @type {const} */ (["in", "out"])) block.append(trimHandle(block, it, edge, ctx));
    block.addEventListener("keydown", (e) => {
      if (!e.altKey || !["ArrowLeft", "ArrowRight"].includes(e.key) || e.target !== block) return;
      e.preventDefault();
      const to = c.number + (e.key === "ArrowLeft" ? -1 : 1);
      if (to >= 1 && to <= items.length) act("move", { scene: it.id, to });
    });
    block.addEventListener("dragstart", (e) => e.dataTransfer?.setData("text/plain", it.id));
    block.addEventListener("dragover", (e) => e.preventDefault());
    block.addEventListener("drop", (e) => {
      e.preventDefault();
      const moved = e.dataTransfer?.getData("text/plain");
      if (!moved || moved === it.id) return;
      const r = block.getBoundingClientRect();
      const order = items.map((x) => x.id).filter((x) => x !== moved);
      order.splice(order.indexOf(it.id) + (e.clientX > r.left + r.width / 2 ? 1 : 0), 0, moved);
      act("reorder", { order });
    });
    lane.append(block);
    if (!c.transition) continue;
    // The next clip starts `fade` seconds before this one ends: the overlap is the transition.
    const fade = c.transition.kind !== "cut" ? c.transition.duration_s : 0;
    const end = c.start_s + c.kept_s;
    // Controls of cuts closer than a control's width go on a second row instead of overlapping.
    const left = (end - fade / 2) * scale - CUT_W / 2;
    const row = left >= rowEnds[0] + 4 || left < rowEnds[1] + 4 ? 0 : 1;
    rowEnds[row] = left + CUT_W;
    cuts.append(cutControl(it, left, row * CUT_ROW_H, ctx));
    if (fade > 0) fades.push(h("div", {
      class: "nbv-xfade", "aria-hidden": "true", title: `${c.transition.kind} ${fmtSeconds(fade)}`,
      style: `left:${(end - fade) * scale}px;width:${Math.max(2, fade * scale)}px`,
    }));
  }
  lane.append(...fades); // over the blocks, so each blend shows where it is
  lane.style.height = "64px";
  cuts.style.height = `${rowEnds[1] > -Infinity ? 2 * CUT_ROW_H : CUT_ROW_H}px`;
  return [h("div", { class: "nbv-track", "data-track": "transitions", role: "group", "aria-label": "Transitions" },
    h("div", { class: "nbv-track-label", text: "Cuts" }), cuts), stripRow(ctx)];
}

/**
 * The strip of the transition last picked (or, before any pick, the first one that is not a
 * cut): five frames across it between two test cards, as nv.transitions() shows it. The
 * PNG is asked for once per name and kept.
 * @param {Ctx} ctx @returns {HTMLElement}
 */
function stripRow(ctx) {
  const withCut = ctx.items.filter((x) => x.clip.transition);
  const kindOf = (/** @type {Item} */ x) => (ctx.cutDrafts.get(x.id) ?? x.clip.transition)?.kind ?? "cut";
  const it = withCut.find((x) => x.id === ctx.strips.shown) ?? withCut.find((x) => kindOf(x) !== "cut");
  const body = h("div", { class: "nbv-strip", role: "status", "aria-live": "polite" });
  if (it) {
    const kind = kindOf(it);
    const about = (ctx.info.transitions || []).find((/** @type {any} */ t) => t.name === kind);
    const bytes = ctx.strips.bytes.get(kind);
    const url = ctx.urls.get(`strip:${kind}`, bytes, "image/png");
    if (url) body.append(h("img", { src: url, alt: `${kind}: five frames across the transition`, "data-strip": kind }));
    else ctx.strips.load(kind);
    body.append(h("span", { class: "nbv-muted", text: `After clip ${it.clip.number}: ${kind}${about ? ` · ${about.description}` : ""}` }));
  } else {
    body.append(h("span", { class: "nbv-muted nbv-lane-note", text: "Every cut is a hard cut: pick a transition to see it here." }));
  }
  return subRow("strip", "Look", "The chosen transition, frame by frame", body);
}

/**
 * A trim handle: a slider for the clip's in or out point; drag it or use the arrow keys.
 * @param {HTMLElement} block @param {Item} it @param {"in" | "out"} edge @param {Ctx} ctx
 */
function trimHandle(block, it, edge, ctx) {
  const c = it.clip;
  const min = edge === "in" ? 0 : c.in_s + ctx.info.min_kept_s;
  const max = edge === "in" ? c.out_s - ctx.info.min_kept_s : c.source_s;
  // A trim not confirmed yet lives in ctx.pending, not in this element: a redraw (any change
  // to the project redraws the lanes) must not drop the keys pressed so far or their timer.
  // It stays there once sent, until the kernel answers: a redraw before that answer (a busy
  // kernel answers late) would start the handle from the old in point and lose the presses.
  const key = `${it.id}:${edge}`;
  let value = ctx.pending.get(key)?.value ?? (edge === "in" ? c.in_s : c.out_s);
  const el = h("button", {
    type: "button", class: "nbv-trim", role: "slider", "data-edge": edge,
    "aria-label": `Trim ${edge} of clip ${c.number}`, "aria-valuemin": min.toFixed(2),
    "aria-valuemax": max.toFixed(2), "aria-valuenow": value.toFixed(2),
    "aria-valuetext": `${edge} point ${fmtSeconds(value)}`,
  });
  /** @param {number} v */
  function preview(v) {
    value = Math.min(max, Math.max(min, Math.round(v * ctx.fps) / ctx.fps));
    el.setAttribute("aria-valuenow", value.toFixed(2));
    el.setAttribute("aria-valuetext", `${edge} point ${fmtSeconds(value)}`);
    const kept = edge === "in" ? c.out_s - value : value - c.in_s;
    block.style.width = `${Math.max(16, kept * ctx.scale)}px`;
    ctx.pending.set(key, { value, timer: ctx.pending.get(key)?.timer ?? 0 });
  }
  if (ctx.pending.has(key)) preview(value);
  /** Send the trim `delay` ms after the last change (one message for a run of key presses). */
  function later(/** @type {number} */ delay) {
    clearTimeout(ctx.pending.get(key)?.timer);
    const timer = window.setTimeout(async () => {
      const v = ctx.pending.get(key)?.value ?? value;
      ctx.pending.set(key, { value: v, timer: 0 });
      const reply = await ctx.act("trim", edge === "in" ? { scene: it.id, in_s: v } : { scene: it.id, out_s: v });
      // Answered: the clip now holds the saved (or, if refused, the old) point. A trim made
      // meanwhile (another value, or a send still to come) stays for its own answer.
      const now = ctx.pending.get(key);
      if (now && now.value === v && !now.timer) {
        ctx.pending.delete(key);
        if (!reply.ok) ctx.redraw();
      }
    }, delay);
    ctx.pending.set(key, { value, timer });
  }
  el.addEventListener("keydown", (e) => {
    const step = e.shiftKey ? 0.5 : 1 / ctx.fps;
    const moves = /** @type {Record<string, number>} */ ({ ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step });
    if (e.key in moves) preview(value + moves[e.key]);
    else if (e.key === "Home") preview(min);
    else if (e.key === "End") preview(max);
    else return;
    e.preventDefault();
    e.stopPropagation();
    later(400);
  });
  el.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.setPointerCapture(e.pointerId);
    const x0 = e.clientX;
    const v0 = value;
    /** @param {PointerEvent} m */
    const move = (m) => preview(v0 + (m.clientX - x0) / ctx.scale);
    const up = () => {
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerup", up);
      if (value !== v0) later(0);
      else ctx.pending.delete(key);
    };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up);
  });
  return el;
}

/**
 * The transition after one clip: a cut, or a named transition (grouped by family, from
 * info.transitions) with a duration.
 * @param {Item} it @param {number} left @param {number} top @param {Ctx} ctx
 */
function cutControl(it, left, top, ctx) {
  // A choice sent and not answered yet is drawn as chosen: the kernel's echo of an earlier
  // change may arrive meanwhile, and must not flip the control back under the user.
  const t = ctx.cutDrafts.get(it.id) ?? /** @type {Transition} */ (it.clip.transition);
  const n = it.clip.number;
  /** @type {{ name: string, family: string, description: string }[]} */
  const choices = ctx.info.transitions?.length ? ctx.info.transitions
    : [{ name: "cut", family: "cut", description: "" }, { name: "crossfade", family: "fade", description: "" }];
  /** @type {Map<string, HTMLElement>} */
  const groups = new Map();
  const kind = h("select", { "data-field": "transition", "aria-label": `Transition after clip ${n}` });
  for (const c of choices) {
    const opt = h("option", { value: c.name, text: c.name, title: c.description });
    if (c.family === "cut") { kind.append(opt); continue; }
    if (!groups.has(c.family)) {
      const g = h("optgroup", { label: c.family });
      groups.set(c.family, g);
      kind.append(g);
    }
    groups.get(c.family)?.append(opt);
  }
  /** @type {HTMLSelectElement} */ (kind).value = t.kind;
  const secs = h("input", {
    type: "number", "data-field": "transition_s", min: 1 / ctx.fps, max: ctx.info.max_crossfade_s,
    step: 0.1, value: t.duration_s || 0.5, hidden: t.kind === "cut",
    "aria-label": `Transition seconds after clip ${n}`,
  });
  const show = () => {
    if (ctx.strips.shown === it.id) return;
    ctx.strips.shown = it.id;
    ctx.redraw();
  };
  kind.addEventListener("focus", show);
  const send = () => {
    const k = /** @type {HTMLSelectElement} */ (kind).value;
    ctx.strips.shown = it.id;
    secs.hidden = k === "cut";
    const v = /** @type {HTMLInputElement} */ (secs).value;
    const draft = { kind: /** @type {Transition["kind"]} */ (k), duration_s: k === "cut" ? 0 : Number(v) };
    ctx.cutDrafts.set(it.id, draft);
    ctx.redraw(); // the strip row shows the new choice at once
    ctx.act("set_transition", { scene: it.id, transition: k, duration_s: draft.duration_s }).finally(() => {
      // Answered: the model holds the outcome now (the view syncs before it replies).
      if (ctx.cutDrafts.get(it.id) === draft) { ctx.cutDrafts.delete(it.id); ctx.redraw(); }
    });
  };
  kind.addEventListener("change", send);
  secs.addEventListener("change", send);
  return h("div", { class: "nbv-cut", "data-cut": it.id, style: `position:absolute;left:${left}px;top:${top}px` }, kind, secs);
}

/** @type {Render} */
function render({ model, el }) {
  const api = client(model);
  const urls = new UrlCache();
  const err = errorLine(model);
  const live = h("div", { class: "nbv-sr", "aria-live": "polite" });
  let scale = 80;
  let zoomed = false; // until the user zooms, the whole timeline fits the view's width
  /** Trims typed or dragged but not sent yet, by "<scene>:<edge>" (see trimHandle). */
  const pending = new Map();
  /** @type {Item[]} */
  let items = [];
  /** Texts typed on the text track and not saved yet, by scene id (kept across redraws). */
  const drafts = new Map();
  /** Transitions sent and not answered yet, by scene id (see cutControl). */
  const cutDrafts = new Map();
  const music = { busy: "" };
  /** Transition strips by name, fetched once each (see stripRow). @type {Strips} */
  const strips = {
    bytes: new Map(), shown: "",
    load(kind) {
      if (this.bytes.has(kind) || loadingStrips.has(kind)) return;
      loadingStrips.add(kind);
      act("transition_strip", { name: kind }).then((reply) => {
        if (reply.ok && reply.buffers[0]) { this.bytes.set(kind, reply.buffers[0]); redraw(); }
      }).finally(() => loadingStrips.delete(kind));
    },
  };
  /** @type {Set<string>} */
  const loadingStrips = new Set();
  /** @param {string} kind @param {Record<string, any>} fields @param {ArrayBuffer[]} [buffers] */
  async function act(kind, fields, buffers) {
    const reply = await api.request(kind, fields, buffers);
    if (!reply.ok) { err.show(reply.error || `${kind} refused`); draw(); }
    return reply;
  }
  const total = h("span", { class: "nbv-muted" });
  const zoomOut = h("button", { type: "button", class: "nbv-icon", "data-action": "zoom-out", "aria-label": "Zoom out", text: "−" });
  const zoomIn = h("button", { type: "button", class: "nbv-icon", "data-action": "zoom-in", "aria-label": "Zoom in", text: "+" });
  const zoomFit = h("button", { type: "button", "data-action": "zoom-fit", "aria-label": "Fit the timeline to the width", text: "Fit" });
  const playBtn = h("button", { type: "button", "data-action": "play", text: "▶ Play" });
  const tracks = h("div", { class: "nbv-tracks", role: "region", "aria-label": "Timeline tracks" });
  const playhead = h("div", { class: "nbv-playhead", "aria-hidden": "true" });
  const video = h("video", { "aria-label": "Preview player", muted: true, playsinline: true, controls: true });
  const nowPlaying = h("div", { class: "nbv-muted", "aria-live": "polite" });
  const exportPanel = h("form", { class: "nbv-export", "aria-label": "Export" });
  // The live preview: the film as edited (overlays, transitions, finishing) at 360p; the
  // ruler scrubs it from the scrub strip.
  const player = livePlayer(model, act, (t) => setHead(t));
  const root = h("div", { class: "nbv nbv-timeline" },
    h("div", { class: "nbv-head" }, h("strong", { text: "Timeline" }), total, zoomOut, zoomIn, zoomFit, playBtn),
    err.el, tracks,
    h("div", { class: "nbv-player" }, h("div", {}, video, nowPlaying), player.el, exportPanel), live);
  ownKeys(root);
  el.append(root);

  /** @type {Set<AnyModel>} */
  const watched = new Set();
  let queued = 0;
  const redraw = () => { cancelAnimationFrame(queued); queued = requestAnimationFrame(() => draw()); };
  let deferred = false;
  /** @param {EventTarget | null} el */
  const isField = (el) => el instanceof HTMLTextAreaElement ||
    (el instanceof HTMLInputElement && ["text", "number"].includes(el.type));
  // Keys typed into a field mark it as being edited (Tab only leaves it).
  tracks.addEventListener("keydown", (e) => {
    if (isField(e.target) && e.key !== "Tab") /** @type {HTMLElement} */ (e.target).dataset.typing = "1";
  });
  async function draw() {
    // A field someone is typing in is not drawn again under them: its text, caret and
    // selection would be lost mid-word (select "fade", type "0.8", and a late echo of the
    // select made it "0.58"). The redraw waits until focus leaves that field.
    const typing = document.activeElement;
    if (isField(typing) && tracks.contains(typing) && /** @type {HTMLElement} */ (typing).dataset.typing) {
      if (!deferred) {
        deferred = true;
        typing?.addEventListener("focusout", () => { deferred = false; redraw(); }, { once: true });
      }
      return;
    }
    const parts = await loadParts(model, model.get("clips"));
    for (const p of watched) if (!parts.includes(p)) { p.off("change:clip", redraw); p.off("change:poster", redraw); watched.delete(p); }
    for (const p of parts) if (!watched.has(p)) { p.on("change:clip", redraw); p.on("change:poster", redraw); watched.add(p); }
    const info = model.get("info") || {};
    if (!zoomed) scale = fitScale(info.total_s || 0);
    items = parts.map((p) => ({ part: p, id: p.get("key"), clip: p.get("clip") }));
    total.textContent = `${items.length} clips · ${fmtSeconds(info.total_s)}`;
    const width = Math.max(200, (info.total_s || 0) * scale + 40);
    const ruler = h("div", { class: "nbv-ruler", "data-role": "ruler", style: `width:${width}px;margin-left:${LABEL_W}px` });
    player.setTotal(info.total_s || 0, info.fps || 30);
    player.stale(); // redrawn: the film may have changed, the next scrub fetches the strip
    // Press and drag on the ruler: the playhead follows and the live preview shows the
    // frame under it from the scrub strip (no render).
    const scrubAt = (/** @type {PointerEvent} */ e) =>
      player.scrubTo(Math.max(0, Math.min(info.total_s || 0, (e.clientX - ruler.getBoundingClientRect().left) / scale)));
    ruler.addEventListener("pointerdown", (e) => {
      scrubAt(e);
      ruler.setPointerCapture?.(e.pointerId);
      const move = (/** @type {PointerEvent} */ ev) => scrubAt(ev);
      ruler.addEventListener("pointermove", move);
      ruler.addEventListener("pointerup", () => ruler.removeEventListener("pointermove", move), { once: true });
    });
    const stepS = scale >= 60 ? 1 : scale >= 20 ? 5 : 10;
    for (let s = 0; s <= (info.total_s || 0); s += stepS) {
      ruler.append(h("span", { style: `left:${s * scale}px`, text: `${s}s` }));
    }
    const ctx = { items, scale, fps: info.fps || 30, act, urls, info, pending, drafts, cutDrafts, music, strips, width, redraw,
      fail: (/** @type {string} */ msg) => err.show(msg) };
    const rows = [ruler];
    for (const track of model.get("tracks") || []) {
      const lane = h("div", { class: "nbv-lane", style: `position:relative;width:${width}px` });
      const row = h("div", { class: "nbv-track", "data-track": track.id, role: "group", "aria-label": `${track.label} track` },
        h("div", { class: "nbv-track-label", text: track.label }), lane);
      rows.push(row);
      const renderer = TRACKS[track.kind];
      if (renderer) rows.push(...renderer(lane, ctx, track));
      else lane.append(h("span", { class: "nbv-muted", text: `(${track.kind} track needs a newer nbvideo)` }));
    }
    const focused = focusKey();
    tracks.replaceChildren(...rows, playhead);
    if (!playing) setHead(items[index]?.clip.start_s ?? 0);
    // Before anything plays, the player shows the first clip's frame, not a black box.
    const first = items[0];
    const cover = first ? urls.get(`${first.id}:poster`, first.part.get("poster"), "image/jpeg") : "";
    if (cover) video.setAttribute("poster", cover); else video.removeAttribute("poster");
    if (focused) /** @type {HTMLElement | null} */ (tracks.querySelector(focused))?.focus();
    drawExport();
  }

  /** A selector for the focused control, to focus its new copy after a redraw. */
  function focusKey() {
    const a = /** @type {HTMLElement | null} */ (document.activeElement);
    if (!a || !tracks.contains(a)) return "";
    const owner = /** @type {HTMLElement | null} */ (a.closest("[data-scene-id],[data-cut]"));
    if (!owner) return a.dataset.action ? `[data-action="${a.dataset.action}"]` : "";
    const base = owner.dataset.cut ? `[data-cut="${owner.dataset.cut}"]` : `[data-scene-id="${owner.dataset.sceneId}"]`;
    if (a.dataset.edge) return `${base} [data-edge="${a.dataset.edge}"]`;
    if (a.dataset.field) return `${base} [data-field="${a.dataset.field}"]`;
    return base;
  }

  // ------------------------------------------------------------------ player
  let playing = false;
  let index = 0;
  /** @param {number} t */
  const setHead = (t) => { playhead.style.left = `${LABEL_W + t * scale}px`; };
  /** @param {Item} it */
  async function previewUrl(it) {
    if (!(it.part.get("preview")?.byteLength > 0)) {
      const reply = await act("preview", { scene: it.id });
      if (!reply.ok) return "";
    }
    return urls.get(`${it.id}:preview`, it.part.get("preview"), "video/mp4");
  }
  async function playFrom(/** @type {number} */ i) {
    index = i;
    const it = items[i];
    if (!it || !playing) { stop(); return; }
    nowPlaying.textContent = `Clip ${it.clip.number}: ${it.clip.title}`;
    const url = await previewUrl(it);
    if (!url || !playing) { if (playing) playFrom(i + 1); return; }
    video.setAttribute("src", url);
    const v = /** @type {HTMLVideoElement} */ (video);
    v.onloadedmetadata = () => { v.currentTime = it.clip.in_s; v.play().catch(() => stop()); };
  }
  function stop() {
    playing = false;
    /** @type {HTMLVideoElement} */ (video).pause();
    playBtn.textContent = "▶ Play";
    playBtn.setAttribute("aria-pressed", "false");
  }
  video.addEventListener("timeupdate", () => {
    const it = items[index];
    if (!it) return;
    const v = /** @type {HTMLVideoElement} */ (video);
    setHead(it.clip.start_s + Math.max(0, v.currentTime - it.clip.in_s));
    if (playing && v.currentTime >= it.clip.out_s - 0.02) playFrom(index + 1);
  });
  video.addEventListener("ended", () => { if (playing) playFrom(index + 1); });
  playBtn.addEventListener("click", () => {
    if (playing) { stop(); return; }
    playing = true;
    playBtn.textContent = "❚❚ Pause";
    playBtn.setAttribute("aria-pressed", "true");
    playFrom(index >= items.length - 1 ? 0 : index);
  });
  zoomIn.addEventListener("click", () => { zoomed = true; scale = Math.min(MAX_SCALE, scale * 1.5); draw(); });
  zoomOut.addEventListener("click", () => { zoomed = true; scale = Math.max(MIN_SCALE, scale / 1.5); draw(); });
  zoomFit.addEventListener("click", () => { zoomed = false; draw(); });
  /** Pixels per second that show `total` seconds in the tracks' width (80 before layout). @param {number} total */
  function fitScale(total) {
    const avail = tracks.clientWidth - LABEL_W - 24;
    if (avail < 100 || total <= 0) return scale;
    return Math.min(MAX_SCALE, Math.max(MIN_SCALE, avail / total));
  }
  let lastWidth = 0;
  const resized = typeof ResizeObserver === "function" ? new ResizeObserver(() => {
    const w = tracks.clientWidth;
    if (!zoomed && Math.abs(w - lastWidth) > 8) { lastWidth = w; redraw(); }
  }) : null;
  resized?.observe(tracks);

  // ------------------------------------------------------------------ export
  const aspectsBox = h("fieldset", {}, h("legend", { text: "Aspects" }));
  const resolution = h("select", { "data-field": "resolution", "aria-label": "Export resolution" });
  const fitBox = h("fieldset", { role: "radiogroup" }, h("legend", { text: "Fit" }));
  const name = h("input", { type: "text", "data-field": "name", value: "ad", "aria-label": "Export name" });
  const go = h("button", { type: "submit", class: "nbv-primary", "data-action": "export", text: "Export" });
  const cancel = h("button", { type: "button", "data-action": "cancel-export", text: "Cancel export", hidden: true });
  const progress = h("progress", { class: "nbv-progress", max: 1, value: 0, "aria-label": "Export progress", hidden: true });
  const state = h("span", { class: "nbv-status", "aria-live": "polite" });
  const files = h("ul", { class: "nbv-files", "aria-label": "Exported files" });
  let built = false;
  function buildExport() {
    const info = model.get("info") || {};
    for (const a of info.aspects || []) {
      aspectsBox.append(h("label", { class: "nbv-choice" },
        h("input", { type: "checkbox", name: "aspect", value: a, checked: a === info.aspect }), a));
    }
    for (const r of info.resolutions || []) resolution.append(h("option", { value: r, text: r }));
    /** @type {HTMLSelectElement} */ (resolution).value = info.resolution;
    for (const f of info.fits || []) {
      fitBox.append(h("label", { class: "nbv-choice" },
        h("input", { type: "radio", name: "fit", value: f, checked: f === "crop" }), f === "pad" ? "blurred pad" : f));
    }
    exportPanel.append(h("strong", { text: "Export" }), aspectsBox,
      h("div", { class: "nbv-actions" },
        h("label", { class: "nbv-inline" }, h("span", { text: "Resolution" }), resolution), fitBox,
        h("label", { class: "nbv-inline" }, h("span", { text: "Name" }), name)),
      h("div", { class: "nbv-actions" }, go, cancel, progress, state), files);
    built = true;
  }
  function drawExport() {
    if (!built) buildExport();
    const ex = model.get("export") || {};
    const running = ex.state === "running";
    go.toggleAttribute("disabled", running);
    cancel.hidden = !running;
    progress.hidden = !running && ex.state !== "done";
    progress.setAttribute("value", String(ex.progress || 0));
    state.textContent = ex.state && ex.state !== "idle" ? `${ex.state}${ex.message ? `: ${ex.message}` : ""}` : "";
    files.replaceChildren(...(ex.files || []).map((/** @type {any} */ f) => h("li", { "data-path": f.path },
      `${f.path} · ${f.width}×${f.height} · ${fmtSeconds(f.duration_s)} · ${(f.size_bytes / 1e6).toFixed(1)} MB `,
      h("button", { type: "button", "data-action": "download", "aria-label": `Download ${f.path}`, text: "Download",
        onclick: () => fetchFile(f.path, true) }),
      h("button", { type: "button", "data-action": "play-export", "aria-label": `Play ${f.path}`, text: "Play",
        onclick: () => fetchFile(f.path, false) }))));
  }
  /** @param {string} path @param {boolean} save */
  async function fetchFile(path, save) {
    const reply = await act("download", { path });
    if (!reply.ok) return;
    const url = urls.get(`file:${path}`, reply.buffers[0], "video/mp4");
    if (save) {
      const a = h("a", { href: url, download: path.split("/").pop() });
      root.append(a);
      a.click();
      a.remove();
    } else {
      stop();
      video.setAttribute("src", url);
      nowPlaying.textContent = path;
    }
  }
  exportPanel.addEventListener("submit", (e) => {
    e.preventDefault();
    const formats = [...exportPanel.querySelectorAll("input[name=aspect]:checked")].map((x) => /** @type {HTMLInputElement} */ (x).value);
    const fit = /** @type {HTMLInputElement | null} */ (exportPanel.querySelector("input[name=fit]:checked"))?.value || "crop";
    act("export", { formats, fit, resolution: /** @type {HTMLSelectElement} */ (resolution).value,
      name: /** @type {HTMLInputElement} */ (name).value });
  });
  cancel.addEventListener("click", () => act("cancel_export", {}));

  const stale = () => player.stale();
  model.on("change:clips", draw);
  model.on("change:info", draw);
  model.on("change:tracks", draw);
  model.on("change:export", drawExport);
  model.on("change:info", stale);
  model.on("change:tracks", stale);
  draw();
  return () => {
    stop();
    cancelAnimationFrame(queued);
    resized?.disconnect();
    for (const { timer } of pending.values()) clearTimeout(timer);
    for (const p of watched) { p.off("change:clip", redraw); p.off("change:poster", redraw); }
    model.off("change:clips", draw);
    model.off("change:info", draw);
    model.off("change:tracks", draw);
    model.off("change:export", drawExport);
    model.off("change:info", stale);
    model.off("change:tracks", stale);
    player.dispose();
    urls.dispose();
    err.dispose();
    api.dispose();
    root.remove();
  };
}

export default { render };
