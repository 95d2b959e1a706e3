// StoryboardBoard view: a card per scene (a child model each), reorder, regenerate, takes.
/** @import { Render, AnyModel } from "@anywidget/types" */

/**
 * @typedef {{ id: string, beat: string, title: string, description: string,
 *   visual_prompt: string, shot: string, camera: string, duration_s: number,
 *   on_screen_text: string, voice_line: string, voice_fit: VoiceFit | null,
 *   frame_take_id: string | null, has_frame: boolean,
 *   has_clip: boolean, takes: {id: string, chosen: boolean, prompt: string}[],
 *   badges?: {kind: string, text: string}[],
 *   review_status: string, comment_count: number, comments: Note[], latest: Note | null }} SceneFields
 * @typedef {{ id: string, author: string, kind: string, text: string, time: string }} Note
 * @typedef {{ words: number, max_words: number, voice_s: number, measured: boolean,
 *   over_s: number, fits: boolean }} VoiceFit
 */

/**
 * The voice-over indicator: words against what fits the scene, or the spoken line's seconds
 * once it is made. While typing, the count follows the text (an estimate until saved).
 * @param {VoiceFit | null} fit @param {string} typed the text in the field now
 * @param {string} saved the line the fit was measured for
 * @returns {{ text: string, fits: boolean }}
 */
function fitText(fit, typed, saved) {
  if (!fit) return { text: "", fits: true };
  const words = typed.split(/\s+/).filter(Boolean).length;
  if (!words) return { text: `0 / ${fit.max_words} words`, fits: true };
  if (fit.measured && typed === saved) {
    return fit.fits
      ? { text: `${words} / ${fit.max_words} words · spoken ${fmtSeconds(fit.voice_s)}, fits`, fits: true }
      : { text: `${words} / ${fit.max_words} words · spoken ${fmtSeconds(fit.voice_s)}, ${fmtSeconds(fit.over_s)} too long`, fits: false };
  }
  const fits = words <= fit.max_words && (typed !== saved || fit.fits);
  return { text: `${words} / ${fit.max_words} words${fits ? " · fits" : " · too long for the scene"}`, fits };
}

const REVIEW_LABELS = /** @type {Record<string, string>} */ ({
  draft: "Draft", in_review: "In review", approved: "Approved", changes_requested: "Changes requested",
});
const NOTE_KINDS = /** @type {Record<string, string>} */ ({
  submitted: "sent for review", approved: "approved", changes_requested: "asked for changes",
  system: "note",
});

/** "alice asked for changes: ..." @param {Note} c */
function noteText(c) {
  const verb = NOTE_KINDS[c.kind];
  if (!c.text) return `${c.author} ${verb || "commented"}`;
  return verb ? `${c.author} ${verb}: ${c.text}` : `${c.author}: ${c.text}`;
}

/** A comment's time as the reader's local date and time. @param {string} iso */
function noteTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** @type {Render} */
function render({ model, el }) {
  const api = client(model);
  const urls = new UrlCache();
  const err = errorLine(model);
  const live = h("div", { class: "nbv-sr", "aria-live": "polite" });
  const title = h("strong");
  const undoChange = h("button", { type: "button", "data-action": "undo-change", text: "↶ Undo" });
  const redoChange = h("button", { type: "button", "data-action": "redo-change", text: "↷ Redo" });
  const steps = h("span", { class: "nbv-steps", role: "group", "aria-label": "Project history" }, undoChange, redoChange);
  const meterFill = h("div");
  const meter = h("div", { class: "nbv-meter", role: "meter", "aria-label": "Total duration against the target", "aria-valuemin": 0 }, meterFill);
  const total = h("span", { "data-role": "total" });
  const cost = h("span", { "data-role": "cost" });
  const bar = h("div", { class: "nbv-bar", role: "group", "aria-label": "Duration and cost" }, total, meter, cost);
  const undoText = h("span");
  const undoBtn = h("button", { type: "button", "data-action": "undo", text: "Undo" });
  const undo = h("div", { class: "nbv-undo", role: "status", hidden: true }, undoText, undoBtn);
  const list = h("ol", { class: "nbv-cards", "aria-label": "Scenes" });
  const addBtn = h("button", { type: "button", "data-action": "add", text: "+ Add scene" });
  const root = h("div", { class: "nbv nbv-board" },
    h("div", { class: "nbv-head" }, title, h("span", { class: "nbv-spacer" }), steps), bar, err.el, undo, list,
    h("div", { class: "nbv-actions" }, addBtn), live);
  ownKeys(root);
  el.append(root);

  /** @type {Map<AnyModel, ReturnType<typeof makeCard>>} */
  const cards = new Map();
  /** @type {string[]} scene ids in board order */
  let order = [];
  let dragId = "";

  // Live collaboration: who is on which card (other people only: alone, nothing shows).
  const tracker = presenceTracker(api, () => (model.get("options") || {}).heartbeat_s || 10,
    () => order, (who) => {
      const active = /** @type {HTMLElement | null} */ (document.activeElement);
      if (active && list.contains(active)) active.blur();
      err.show(`This scene is being edited by ${who}`);
    });
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) tracker.view(/** @type {HTMLElement} */ (e.target).dataset.sceneId || "", e.isIntersecting);
  });
  list.addEventListener("focusin", (e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    const li = /** @type {HTMLElement | null} */ (t.closest("[data-scene-id]"));
    // A card's fields, not its comment box: commenting leaves the card open to the others.
    if (li && t.matches("input, textarea, select") && !t.closest(".nbv-note")) tracker.edit(li.dataset.sceneId || null);
  });
  list.addEventListener("focusout", (e) => {
    const next = /** @type {HTMLElement | null} */ (/** @type {FocusEvent} */ (e).relatedTarget);
    const from = /** @type {HTMLElement} */ (e.target).closest("[data-scene-id]");
    if (!next || !from || !from.contains(next)) tracker.edit(null);
  });
  const LOCKED_KINDS = new Set(["edit", "move", "delete", "choose_take", "regenerate"]);

  /** Send one request; the reply's error also shows on the board. @param {string} kind @param {Record<string, any>} fields */
  async function act(kind, fields) {
    const me = tracker.me();
    if (me && LOCKED_KINDS.has(kind)) fields = { ...fields, by: me.user };
    if (me && kind === "comment") fields = { ...fields, name: me.name };
    const reply = await api.request(kind, fields);
    if (!reply.ok) err.show(reply.error || `${kind} refused`);
    return reply;
  }

  /** @param {AnyModel} part */
  function makeCard(part) {
    /** @type {SceneFields} */
    let s = part.get("scene");
    const num = h("span", { class: "nbv-num" });
    const handle = h("button", {
      type: "button", class: "nbv-handle nbv-icon", "data-action": "drag",
      "aria-keyshortcuts": "Alt+ArrowLeft Alt+ArrowRight", text: "⠿",
    });
    const heading = h("span", { class: "nbv-title" });
    const earlier = h("button", { type: "button", class: "nbv-icon", "data-action": "move-earlier", text: "◀" });
    const later = h("button", { type: "button", class: "nbv-icon", "data-action": "move-later", text: "▶" });
    const img = h("img", { alt: "" });
    const placeholder = h("span", { class: "nbv-muted", text: "no frame yet" });
    const busy = h("div", { class: "nbv-busy", hidden: true }, h("span", { class: "nbv-spinner" }), h("span", { text: "Regenerating…" }));
    const thumb = h("div", { class: "nbv-thumb" }, img, placeholder, busy);
    /** @param {string} field @param {string[]} choices */
    const select = (field, choices) => h("select", { "data-field": field },
      ...choices.map((c) => h("option", { value: c, text: c })));
    const opts = model.get("options") || {};
    const beat = select("beat", opts.beats || []);
    const shot = select("shot", opts.shots || []);
    const camera = select("camera", opts.cameras || []);
    const dur = h("input", { type: "number", "data-field": "duration_s", inputmode: "decimal" });
    const shorter = h("button", { type: "button", class: "nbv-icon", "data-action": "shorter", text: "−" });
    const longer = h("button", { type: "button", class: "nbv-icon", "data-action": "longer", text: "+" });
    const stepper = h("span", { class: "nbv-stepper", role: "group" },
      h("span", { class: "nbv-stepper-label", text: "Duration" }), shorter, dur, longer, h("span", { text: "s" }));
    const desc = h("textarea", { "data-field": "description", rows: 3 });
    const prompt = h("textarea", { "data-field": "visual_prompt", rows: 3 });
    const fitId = `nbv-fit-${Math.random().toString(36).slice(2, 10)}`;
    const voice = h("textarea", { "data-field": "voice_line", rows: 2, "aria-describedby": fitId });
    const fit = h("span", { class: "nbv-fit", id: fitId, "data-role": "voice-fit" });
    const regen = h("button", { type: "button", "data-action": "regenerate", text: "Regenerate" });
    const takesBtn = h("button", { type: "button", "data-action": "takes", "aria-expanded": "false" });
    const dup = h("button", { type: "button", class: "nbv-icon", "data-action": "duplicate", title: "Duplicate" }, icon("duplicate"));
    const del = h("button", { type: "button", class: "nbv-icon nbv-danger", "data-action": "delete", title: "Delete" }, icon("delete"));
    // The number input shows 2 decimals; only a real change by the user is sent as an edit.
    const strip = h("div", { class: "nbv-takes", role: "group", hidden: true });
    // Review: status, comment count and the latest comment; approve, ask for changes, comment.
    const status = h("span", { class: "nbv-review-status", "data-role": "review-status" });
    const threadBtn = h("button", { type: "button", class: "nbv-link", "data-action": "thread", "aria-expanded": "false" });
    const lastNote = h("span", { class: "nbv-last-note", "data-role": "last-comment" });
    const approveBtn = h("button", { type: "button", "data-action": "approve", text: "Approve" });
    const changesBtn = h("button", { type: "button", "data-action": "request-changes", text: "Request changes" });
    const commentBtn = h("button", { type: "button", "data-action": "comment", text: "Comment" });
    const submitBtn = h("button", { type: "button", "data-action": "submit", text: "Send for review" });
    const noteId = `nbv-note-${Math.random().toString(36).slice(2, 10)}`;
    const noteLabel = h("span", { id: noteId });
    const noteBox = h("textarea", { rows: 2, "data-field": "note", "aria-labelledby": noteId, maxlength: 2000 });
    const sendNote = h("button", { type: "button", class: "nbv-primary", "data-action": "send-note", text: "Send" });
    const cancelNote = h("button", { type: "button", "data-action": "cancel-note", text: "Cancel" });
    const noteForm = h("div", { class: "nbv-note", hidden: true },
      noteLabel, noteBox, h("div", { class: "nbv-actions" }, sendNote, cancelNote));
    const thread = h("ol", { class: "nbv-thread", hidden: true });
    const review = h("div", { class: "nbv-review", role: "group" },
      h("div", { class: "nbv-review-line" }, status, threadBtn, lastNote),
      h("div", { class: "nbv-actions nbv-review-actions" }, approveBtn, changesBtn, commentBtn, submitBtn),
      noteForm, thread);
    /** @type {"" | "comment" | "request_changes"} */
    let noteMode = "";
    const badgeBox = h("div", { class: "nbv-badges", "data-role": "badges", hidden: true });
    const people = h("span", { class: "nbv-people", "data-role": "presence", hidden: true });
    const lockLine = h("div", { class: "nbv-lock", "data-role": "lock", role: "status", hidden: true });
    const li = h("li", { class: "nbv-card nbv-scene", "data-scene-id": s.id },
      h("div", { class: "nbv-scene-top" }, handle, num, heading, people, earlier, later),
      lockLine,
      badgeBox,
      thumb,
      h("div", { class: "nbv-labels" }, beat, shot, camera, stepper),
      h("label", { class: "nbv-field" }, h("span", { text: "Description" }), desc),
      h("label", { class: "nbv-field" }, h("span", { text: "Visual prompt" }), prompt),
      h("label", { class: "nbv-field" }, h("span", { class: "nbv-field-head" }, h("span", { text: "Voice-over" }), fit), voice),
      h("div", { class: "nbv-actions nbv-card-actions" }, regen, takesBtn, h("span", { class: "nbv-spacer" }), dup, del),
      strip, review);

    const position = () => order.indexOf(s.id) + 1;

    function labels() {
      const n = position();
      const name = s.title || s.beat;
      num.textContent = String(n);
      heading.textContent = name;
      li.setAttribute("aria-label", `Scene ${n}: ${name}`);
      handle.setAttribute("aria-label", `Move scene ${n}: drag, or Alt+Arrow keys`);
      earlier.setAttribute("aria-label", `Move scene ${n} earlier`);
      later.setAttribute("aria-label", `Move scene ${n} later`);
      earlier.toggleAttribute("disabled", n <= 1);
      later.toggleAttribute("disabled", n >= order.length);
      beat.setAttribute("aria-label", `Beat of scene ${n}`);
      shot.setAttribute("aria-label", `Shot of scene ${n}`);
      camera.setAttribute("aria-label", `Camera move of scene ${n}`);
      dur.setAttribute("aria-label", `Duration of scene ${n} in seconds`);
      shorter.setAttribute("aria-label", `Shorter scene ${n}`);
      longer.setAttribute("aria-label", `Longer scene ${n}`);
      desc.setAttribute("aria-label", `Description of scene ${n}`);
      prompt.setAttribute("aria-label", `Visual prompt of scene ${n}`);
      voice.setAttribute("aria-label", `Voice-over line of scene ${n}`);
      regen.setAttribute("aria-label", `Regenerate the frame of scene ${n}`);
      dup.setAttribute("aria-label", `Duplicate scene ${n}`);
      del.setAttribute("aria-label", `Delete scene ${n}`);
      strip.setAttribute("aria-label", `Earlier takes of scene ${n}`);
      review.setAttribute("aria-label", `Review of scene ${n}`);
      approveBtn.setAttribute("aria-label", `Approve scene ${n}`);
      changesBtn.setAttribute("aria-label", `Request changes to scene ${n}`);
      commentBtn.setAttribute("aria-label", `Comment on scene ${n}`);
      submitBtn.setAttribute("aria-label", `Send scene ${n} for review`);
      thread.setAttribute("aria-label", `Comments on scene ${n}`);
      img.setAttribute("alt", `Frame of scene ${n}: ${s.description.slice(0, 120)}`);
      showLock();
    }

    // The controls that change the card; comments and review stay open while it is locked.
    const editControls = [beat, shot, camera, dur, shorter, longer, desc, prompt, voice, regen, del, earlier, later];
    let lockedBy = "";

    /** Who else is on this card (dots), and whether someone else edits it (locked). */
    function showPresence() {
      const me = tracker.me();
      const others = ((model.get("presence") || {})[s.id] || []).filter((/** @type {any} */ p) => !me || p.user !== me.user);
      people.replaceChildren(...others.map((/** @type {any} */ p) => h("span", {
        class: "nbv-person", "data-user": p.user, "data-editing": String(p.editing),
        style: `--nbv-person: ${/^#[0-9a-fA-F]{6}$/.test(p.colour) ? p.colour : "#58628a"}`,
        title: `${p.name} is ${p.editing ? "editing" : "looking at"} this scene`, text: initials(p.name),
      })));
      people.hidden = !others.length;
      people.setAttribute("aria-label", others.map((/** @type {any} */ p) => `${p.name} ${p.editing ? "editing" : "viewing"}`).join(", "));
      const editor = others.find((/** @type {any} */ p) => p.editing);
      const was = lockedBy;
      lockedBy = editor ? editor.name : "";
      lockLine.textContent = lockedBy ? `Being edited by ${lockedBy}` : "";
      lockLine.hidden = !lockedBy;
      if (was !== lockedBy) { labels(); showBusy(); }
      else showLock();
    }

    function showLock() {
      li.dataset.locked = String(Boolean(lockedBy));
      if (!lockedBy) return;
      for (const ctl of editControls) ctl.setAttribute("disabled", "");
    }
    function unlockFields() {
      for (const ctl of [beat, shot, camera, dur, shorter, longer, desc, prompt, voice, del]) ctl.removeAttribute("disabled");
    }

    /** Put the model's values in the controls, except one the user is typing in. */
    function fill() {
      s = part.get("scene");
      showBadges(badgeBox, s.badges);
      const b = (model.get("options") || {}).duration || {};
      for (const [ctl, value] of /** @type {[any, any][]} */ ([[beat, s.beat], [shot, s.shot], [camera, s.camera],
        [dur, s.duration_s], [desc, s.description], [prompt, s.visual_prompt], [voice, s.voice_line]])) {
        const shown = typeof value === "number" ? Math.round(value * 100) / 100 : value;
        if (document.activeElement !== ctl || ctl.tagName === "SELECT") ctl.value = String(shown);
      }
      dur.setAttribute("min", b.min ?? 1);
      dur.setAttribute("max", b.max ?? 15);
      dur.setAttribute("step", b.step ?? 0.5);
      takesBtn.textContent = `Takes (${s.takes.length})`;
      takesBtn.toggleAttribute("disabled", s.takes.length < 2);
      regen.textContent = s.has_frame ? "Regenerate" : "Make frame";
      showFit();
      showReview();
      if (!strip.hidden) openStrip();
      labels();
    }

    function showReview() {
      const st = s.review_status || "draft";
      status.textContent = REVIEW_LABELS[st] || st;
      status.dataset.status = st;
      li.dataset.review = st;
      const n = s.comment_count || 0;
      threadBtn.textContent = n === 1 ? "1 comment" : `${n} comments`;
      threadBtn.toggleAttribute("disabled", n === 0);
      if (n === 0 && !thread.hidden) toggleThread(false);
      const last = s.latest;
      lastNote.textContent = last ? noteText(last) : "";
      lastNote.setAttribute("title", last ? `${noteText(last)} (${noteTime(last.time)})` : "");
      approveBtn.toggleAttribute("disabled", st === "approved");
      submitBtn.hidden = st === "approved" || st === "in_review";
      thread.replaceChildren(...s.comments.map((c) => h("li", { "data-kind": c.kind },
        h("span", { class: "nbv-muted", text: `${noteTime(c.time)} · ` }), noteText(c))));
      if (n > s.comments.length) {
        thread.prepend(h("li", { class: "nbv-muted", text: `${n - s.comments.length} earlier: see p.comments` }));
      }
    }

    /** @param {boolean} open */
    function toggleThread(open) {
      thread.hidden = !open;
      threadBtn.setAttribute("aria-expanded", String(open));
    }

    /** Open the note form to comment, or to say which changes. @param {"" | "comment" | "request_changes"} mode */
    function openNote(mode) {
      noteMode = mode;
      noteForm.hidden = !mode;
      if (!mode) return;
      noteLabel.textContent = mode === "request_changes" ? "What should change?" : "Comment";
      sendNote.textContent = mode === "request_changes" ? "Request changes" : "Send";
      sendNote.toggleAttribute("disabled", !/** @type {HTMLTextAreaElement} */ (noteBox).value.trim());
      requestAnimationFrame(() => noteBox.focus());
    }

    async function sendNoteNow() {
      const text = /** @type {HTMLTextAreaElement} */ (noteBox).value;
      if (!noteMode || !text.trim()) return;
      const mode = noteMode;
      const reply = await act(mode, { scene: s.id, text });
      if (!reply.ok) return; // the message shows; the typed text stays to fix
      /** @type {HTMLTextAreaElement} */ (noteBox).value = "";
      openNote("");
      announce(live, mode === "request_changes" ? `Scene ${position()}: changes requested` : `Scene ${position()}: comment added`);
    }

    function showFit() {
      const f = fitText(s.voice_fit, /** @type {HTMLTextAreaElement} */ (voice).value, s.voice_line);
      fit.textContent = f.text;
      fit.dataset.fits = String(f.fits);
      voice.setAttribute("aria-invalid", f.fits ? "false" : "true");
    }

    let shownBusy = "";
    function showThumb() {
      const url = urls.get(s.id, part.get("thumb"), "image/jpeg");
      img.hidden = !url;
      placeholder.hidden = Boolean(url);
      if (url) img.setAttribute("src", url);
    }

    function showBusy() {
      if (!lockedBy) unlockFields();
      const b = part.get("busy");
      busy.hidden = !b;
      li.setAttribute("aria-busy", b ? "true" : "false");
      regen.toggleAttribute("disabled", Boolean(b));
      showLock();
      if (b && b !== shownBusy) announce(live, `Scene ${position()}: ${b}`);
      shownBusy = b;
    }

    async function openStrip() {
      const reply = await act("takes", { scene: s.id });
      if (!reply.ok) return;
      strip.replaceChildren(...reply.result.map((/** @type {any} */ tk, /** @type {number} */ i) => {
        const u = urls.get(`take:${tk.id}`, reply.buffers[i], "image/jpeg");
        return h("button", {
          type: "button", "data-take-id": tk.id, "aria-pressed": tk.chosen ? "true" : "false",
          "aria-label": `Take ${i + 1}${tk.chosen ? " (chosen)" : ""}: ${tk.prompt}`, title: tk.prompt,
          onclick: () => act("choose_take", { scene: s.id, take: tk.id }),
        }, h("img", { src: u, alt: "" }));
      }));
      strip.hidden = false;
      takesBtn.setAttribute("aria-expanded", "true");
    }

    /** @param {string} field @param {any} value */
    async function edit(field, value) {
      if (s[/** @type {keyof SceneFields} */ (field)] === value) return;
      const reply = await act("edit", { scene: s.id, changes: { [field]: value } });
      if (!reply.ok) fill(); // refused: put the saved value back
    }

    /** @param {number} delta */
    function step(delta) {
      const b = (model.get("options") || {}).duration || { min: 1, max: 15, step: 0.5 };
      const v = Math.min(b.max, Math.max(b.min, Math.round((Number(dur.value) + delta) * 100) / 100));
      dur.value = String(v);
      edit("duration_s", v);
    }

    /** @param {number} delta */
    async function move(delta) {
      const to = position() + delta;
      if (to < 1 || to > order.length) return;
      const reply = await act("move", { scene: s.id, to });
      if (reply.ok) {
        announce(live, `Scene moved to position ${to}`);
        requestAnimationFrame(() => /** @type {HTMLElement} */ (li.querySelector(".nbv-handle")).focus());
      }
    }

    for (const ctl of [beat, shot, camera]) ctl.addEventListener("change", () => edit(ctl.dataset.field || "", /** @type {HTMLSelectElement} */ (ctl).value));
    for (const ctl of [desc, prompt, voice]) ctl.addEventListener("change", () => edit(ctl.dataset.field || "", /** @type {HTMLTextAreaElement} */ (ctl).value));
    voice.addEventListener("input", showFit);
    dur.addEventListener("change", () => {
      const v = /** @type {HTMLInputElement} */ (dur).value;
      edit("duration_s", v.trim() === "" || Number.isNaN(Number(v)) ? v : Number(v));
    });
    shorter.addEventListener("click", () => step(-((model.get("options") || {}).duration?.step ?? 0.5)));
    longer.addEventListener("click", () => step((model.get("options") || {}).duration?.step ?? 0.5));
    earlier.addEventListener("click", () => move(-1));
    later.addEventListener("click", () => move(1));
    regen.addEventListener("click", () => {
      const typed = /** @type {HTMLTextAreaElement} */ (prompt).value;
      act("regenerate", typed !== s.visual_prompt ? { scene: s.id, prompt: typed } : { scene: s.id });
    });
    takesBtn.addEventListener("click", () => {
      if (strip.hidden) openStrip();
      else { strip.hidden = true; takesBtn.setAttribute("aria-expanded", "false"); }
    });
    approveBtn.addEventListener("click", async () => {
      const reply = await act("approve", { scene: s.id });
      if (reply.ok) announce(live, `Scene ${position()} approved`);
    });
    submitBtn.addEventListener("click", async () => {
      const reply = await act("submit", { scene: s.id });
      if (reply.ok) announce(live, `Scene ${position()} sent for review`);
    });
    changesBtn.addEventListener("click", () => openNote(noteMode === "request_changes" ? "" : "request_changes"));
    commentBtn.addEventListener("click", () => openNote(noteMode === "comment" ? "" : "comment"));
    cancelNote.addEventListener("click", () => openNote(""));
    sendNote.addEventListener("click", sendNoteNow);
    noteBox.addEventListener("input", () => sendNote.toggleAttribute("disabled", !/** @type {HTMLTextAreaElement} */ (noteBox).value.trim()));
    noteBox.addEventListener("keydown", (e) => {
      const k = /** @type {KeyboardEvent} */ (e);
      // Ctrl+Enter sends here; it must not also reach the notebook, where it runs the cell.
      if (k.key === "Enter" && (k.ctrlKey || k.metaKey)) { k.preventDefault(); k.stopPropagation(); sendNoteNow(); }
      else if (k.key === "Escape") { k.stopPropagation(); openNote(""); commentBtn.focus(); }
    });
    threadBtn.addEventListener("click", () => toggleThread(thread.hidden));
    dup.addEventListener("click", () => act("duplicate", { scene: s.id }));
    del.addEventListener("click", () => act("delete", { scene: s.id }));
    li.addEventListener("keydown", (e) => {
      if (!e.altKey || !["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(e.key)) return;
      e.preventDefault();
      move(e.key === "ArrowLeft" || e.key === "ArrowUp" ? -1 : 1);
    });
    // Drag by the handle only, so text in the fields stays selectable.
    handle.addEventListener("pointerdown", () => li.setAttribute("draggable", "true"));
    li.addEventListener("dragstart", (e) => {
      dragId = s.id;
      li.dataset.dragging = "true";
      e.dataTransfer?.setData("text/plain", s.id);
    });
    li.addEventListener("dragend", () => {
      li.removeAttribute("draggable");
      delete li.dataset.dragging;
      dragId = "";
      for (const c of list.children) delete /** @type {HTMLElement} */ (c).dataset.drop;
    });
    li.addEventListener("dragover", (e) => {
      if (!dragId || dragId === s.id) return;
      e.preventDefault();
      const r = li.getBoundingClientRect();
      li.dataset.drop = e.clientX < r.left + r.width / 2 ? "before" : "after";
    });
    li.addEventListener("dragleave", () => { delete li.dataset.drop; });
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      const where = li.dataset.drop;
      delete li.dataset.drop;
      if (!dragId || dragId === s.id) return;
      const next = order.filter((id) => id !== dragId);
      next.splice(next.indexOf(s.id) + (where === "after" ? 1 : 0), 0, dragId);
      act("reorder", { order: next });
    });

    part.on("change:scene", fill);
    part.on("change:thumb", showThumb);
    part.on("change:busy", showBusy);
    fill();
    showThumb();
    showBusy();
    showPresence();
    seen.observe(li);
    return {
      li, labels, fill, showPresence,
      dispose() {
        seen.unobserve(li);
        part.off("change:scene", fill);
        part.off("change:thumb", showThumb);
        part.off("change:busy", showBusy);
        li.remove();
      },
    };
  }

  let generation = 0;
  async function syncCards() {
    const mine = ++generation;
    const parts = await loadParts(model, model.get("cards"));
    if (mine !== generation) return; // a newer list arrived meanwhile
    for (const [part, card] of cards) {
      if (!parts.includes(part)) { card.dispose(); cards.delete(part); }
    }
    order = parts.map((p) => p.get("key"));
    for (const part of parts) {
      if (!cards.has(part)) cards.set(part, makeCard(part));
    }
    const items = parts.map((p) => /** @type {any} */ (cards.get(p)).li);
    if (items.length !== list.children.length || items.some((li, i) => list.children[i] !== li)) {
      // Taking the focused card out of the page blurs it (and commits a half-typed field);
      // give the focus back, so Alt+Arrow can keep moving the same card.
      const focused = /** @type {HTMLElement | null} */ (document.activeElement);
      const keep = focused && list.contains(focused) ? focused : null;
      list.replaceChildren(...items);
      if (keep && keep.isConnected && document.activeElement !== keep) keep.focus();
    }
    for (const card of cards.values()) card.labels();
  }

  function drawBar() {
    const sm = model.get("summary") || {};
    title.textContent = model.get("title") || "Storyboard";
    total.textContent = `Total ${fmtSeconds(sm.total_s)} of ${fmtSeconds(sm.target_s)} target · ${sm.scenes} scenes`;
    meter.setAttribute("aria-valuenow", String(sm.total_s ?? 0));
    meter.setAttribute("aria-valuemax", String(sm.target_s ?? 0));
    meter.dataset.over = String((sm.total_s ?? 0) > (sm.target_s ?? 0) + 0.01);
    meterFill.style.width = `${Math.min(100, (100 * (sm.total_s || 0)) / (sm.target_s || 1))}%`;
    const price = sm.estimate_usd === null || sm.estimate_usd === undefined ? "not priced" : fmtUsd(sm.estimate_usd);
    cost.textContent = `Clips on ${sm.model}: ${price} (${sm.to_pay} to pay)` +
      (sm.budget_usd !== null && sm.budget_usd !== undefined ? ` · budget ${fmtUsd(sm.budget_usd)}` : "") +
      (sm.note ? ` · ${sm.note}` : "");
  }

  function drawUndo() {
    const u = model.get("undo") || {};
    undo.hidden = !u.scene;
    undoText.textContent = u.scene ? `Deleted scene ${u.to}: ${u.title}.` : "";
    undoBtn.setAttribute("aria-label", u.scene ? `Undo: bring back scene ${u.to}` : "Undo");
  }
  function drawOptions() { for (const card of cards.values()) card.fill(); }
  function drawPresence() { for (const card of cards.values()) card.showPresence(); }

  function drawSteps() {
    const st = model.get("history") || {};
    const ro = Boolean(st.read_only);
    undoChange.toggleAttribute("disabled", ro || !st.undo);
    redoChange.toggleAttribute("disabled", ro || !st.redo);
    const why = ro ? "opened read-only" : "";
    undoChange.setAttribute("title", st.undo ? `Undo: ${st.undo}` : why || "Nothing to undo");
    redoChange.setAttribute("title", st.redo ? `Redo: ${st.redo}` : why || "Nothing to redo");
    undoChange.setAttribute("aria-label", st.undo ? `Undo: ${st.undo}` : "Undo (nothing to undo)");
    redoChange.setAttribute("aria-label", st.redo ? `Redo: ${st.redo}` : "Redo (nothing to redo)");
  }

  /** @param {"undo_change" | "redo_change"} kind */
  async function walk(kind) {
    const st = model.get("history") || {};
    const what = kind === "undo_change" ? st.undo : st.redo;
    const reply = await act(kind, {});
    if (reply.ok) announce(live, `${kind === "undo_change" ? "Undone" : "Redone"}: ${what || ""}`);
  }
  undoChange.addEventListener("click", () => walk("undo_change"));
  redoChange.addEventListener("click", () => walk("redo_change"));

  undoBtn.addEventListener("click", () => {
    const u = model.get("undo") || {};
    if (u.scene) act("restore", { scene: u.scene, to: u.to });
  });
  addBtn.addEventListener("click", async () => {
    const reply = await act("add", { after: order[order.length - 1] ?? null });
    if (reply.ok) announce(live, "Scene added at the end");
  });

  model.on("change:cards", syncCards);
  model.on("change:summary", drawBar);
  model.on("change:title", drawBar);
  model.on("change:undo", drawUndo);
  model.on("change:options", drawOptions);
  model.on("change:history", drawSteps);
  model.on("change:presence", drawPresence);
  syncCards();
  drawBar();
  drawUndo();
  drawSteps();
  return () => {
    model.off("change:cards", syncCards);
    model.off("change:summary", drawBar);
    model.off("change:title", drawBar);
    model.off("change:undo", drawUndo);
    model.off("change:options", drawOptions);
    model.off("change:history", drawSteps);
    model.off("change:presence", drawPresence);
    tracker.dispose();
    seen.disconnect();
    for (const card of cards.values()) card.dispose();
    cards.clear();
    urls.dispose();
    err.dispose();
    api.dispose();
    root.remove();
  };
}

export default { render };
