// Shared helpers, prepended to each view's module by nbvideo.widgets.base.esm().
/** @import { AnyModel } from "@anywidget/types" */

/**
 * Make an element. Attributes starting with "on" become listeners; `null`/`false` are skipped.
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else if (k === "value") /** @type {any} */ (el).value = v;
    else if (k === "checked") /** @type {any} */ (el).checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/**
 * @typedef {{ ok: boolean, error: string | null, result: any, buffers: DataView[] }} Reply
 */

/**
 * Request/reply over custom messages: send {kind, id, ...fields}, resolve on {kind:"reply", id}.
 * @param {AnyModel} model
 */
function client(model) {
  const prefix = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  /** @type {Map<string, (r: Reply) => void>} */
  const waiting = new Map();
  /** @param {any} msg @param {DataView[]} buffers */
  const onMsg = (msg, buffers) => {
    if (!msg || msg.kind !== "reply") return;
    const done = waiting.get(msg.id);
    if (!done) return;
    waiting.delete(msg.id);
    done({ ok: Boolean(msg.ok), error: msg.error ?? null, result: msg.result, buffers: buffers || [] });
  };
  model.on("msg:custom", onMsg);
  return {
    /**
     * @param {string} kind
     * @param {Record<string, any>} [fields]
     * @param {ArrayBuffer[]} [buffers] binary payloads (a file's bytes), sent beside the JSON
     * @returns {Promise<Reply>}
     */
    request(kind, fields = {}, buffers = undefined) {
      const id = `${prefix}-${++seq}`;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        if (buffers && buffers.length) model.send({ kind, id, ...fields }, undefined, buffers);
        else model.send({ kind, id, ...fields });
      });
    },
    dispose() {
      model.off("msg:custom", onMsg);
      waiting.clear();
    },
  };
}

/**
 * Load the child models (parts) named by a list trait of "IPY_MODEL_<id>" references.
 * @param {AnyModel} model
 * @param {string[]} refs
 * @returns {Promise<AnyModel[]>}
 */
async function loadParts(model, refs) {
  return Promise.all(
    (refs || []).map((ref) => model.widget_manager.get_model(String(ref).replace(/^IPY_MODEL_/, ""))),
  );
}

/** Object URLs made from bytes traits, revoked when replaced or on cleanup. */
class UrlCache {
  constructor() {
    /** @type {Map<string, {bytes: any, url: string}>} */
    this.urls = new Map();
  }
  /**
   * @param {string} key
   * @param {DataView | ArrayBuffer | null | undefined} bytes
   * @param {string} type
   * @returns {string} "" when there are no bytes
   */
  get(key, bytes, type) {
    const seen = this.urls.get(key);
    if (seen && seen.bytes === bytes) return seen.url;
    if (seen) URL.revokeObjectURL(seen.url);
    if (!bytes || bytes.byteLength === 0) {
      this.urls.delete(key);
      return "";
    }
    const url = URL.createObjectURL(new Blob([bytes], { type }));
    this.urls.set(key, { bytes, url });
    return url;
  }
  dispose() {
    for (const { url } of this.urls.values()) URL.revokeObjectURL(url);
    this.urls.clear();
  }
}

/**
 * The widget's error line, bound to the `error` trait; role=alert so it is announced.
 * @param {AnyModel} model
 * @returns {{ el: HTMLElement, show: (msg: string) => void, dispose: () => void }}
 */
function errorLine(model) {
  const text = h("span", { class: "nbv-error-text" });
  const close = h("button", {
    class: "nbv-icon", type: "button", "aria-label": "Dismiss message", text: "×",
    onclick: () => show(""),
  });
  const el = h("div", { class: "nbv-error", role: "alert", hidden: true }, text, close);
  /** @param {string} msg */
  function show(msg) {
    text.textContent = msg || "";
    el.hidden = !msg;
  }
  const sync = () => show(model.get("error"));
  model.on("change:error", sync);
  sync();
  return { el, show, dispose: () => model.off("change:error", sync) };
}

/** @param {number} s */
function fmtSeconds(s) {
  if (!Number.isFinite(s)) return "–";
  return `${Math.round(s * 100) / 100} s`;
}

/** @param {number} usd */
function fmtUsd(usd) {
  if (!Number.isFinite(usd)) return "–";
  return usd < 1 ? `$${usd.toFixed(3)}` : `$${usd.toFixed(2)}`;
}

/** Clock text for a running item: "12 s", "1:05". @param {number} seconds */
function fmtClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * Announce a message politely to screen readers (status changes that are not errors).
 * @param {HTMLElement} live an element with aria-live="polite"
 * @param {string} msg
 */
function announce(live, msg) {
  live.textContent = "";
  setTimeout(() => { live.textContent = msg; }, 30);
}

/**
 * Keep the view's keystrokes inside the view.
 *
 * JupyterLab handles keys on the document (bubbling) in command mode: on a focused radio,
 * button, select or slider of a view, ArrowUp/Down would select another cell, Enter would
 * edit one, and single letters run notebook commands ("m" makes the cell Markdown, "d d"
 * deletes it with this view). Lab leaves only text fields alone. So keys without Ctrl/Meta
 * stop at the view's root; Escape and Shift+Enter still reach the notebook (leave the view,
 * run the cell), and so do Ctrl/Meta shortcuts such as Ctrl+S.
 * @param {HTMLElement} root
 */
function ownKeys(root) {
  root.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.key === "Escape" || (e.shiftKey && e.key === "Enter")) return;
    e.stopPropagation();
  });
}

/** Outline icons (24x24 paths, stroke = currentColor, so they follow the theme). */
const ICONS = /** @type {Record<string, string>} */ ({
  duplicate: "M9 9h11v11H9z M5 15H4V4h11v1",
  delete: "M4 7h16 M10 11v6 M14 11v6 M6 7l1 13h10l1-13 M9 7V4h6v3",
});

/**
 * An inline SVG icon (decorative: the button around it carries the label).
 * @param {string} name
 * @returns {SVGSVGElement}
 */
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "nbv-svg");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.append(path);
  return svg;
}

/**
 * Show a card's badges (a presenter scene, a lip-synced clip) in `el`, replacing what it showed.
 * @param {HTMLElement} el
 * @param {{kind: string, text: string}[] | undefined} list
 */
function showBadges(el, list) {
  el.replaceChildren(...(list || []).map((b) =>
    h("span", { class: "nbv-badge", "data-badge": b.kind, text: b.text })));
  el.hidden = !(list || []).length;
}
