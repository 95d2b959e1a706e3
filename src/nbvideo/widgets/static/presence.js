// Live collaboration helpers for the board: who this browser is, and its presence messages.
// Several browsers share one kernel under JupyterLab's real-time collaboration, so the kernel
// cannot tell them apart: each browser names itself with the Jupyter server's /api/me.

const PRESENCE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

/** @typedef {{ user: string, name: string, colour: string }} Me */

/** A stable colour for a user id. @param {string} id */
function colourOf(id) {
  let n = 0;
  for (const ch of id) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
  return PRESENCE_COLOURS[n % PRESENCE_COLOURS.length];
}

/** The page's Jupyter config (base URL, token), or {} outside Jupyter. */
function pageConfig() {
  try {
    const el = document.getElementById("jupyter-config-data");
    return el ? JSON.parse(el.textContent || "{}") : {};
  } catch { return {}; }
}

/**
 * Who this browser is: the Jupyter server's user (the hub's user under JupyterHub, an
 * anonymous name per browser with token login). Elsewhere (VS Code, Colab) a guest id kept
 * for the tab, so presence still works, only with a plain name.
 * @returns {Promise<Me>}
 */
async function whoAmI() {
  const cfg = pageConfig();
  const base = String(cfg.baseUrl || "/").replace(/\/?$/, "/");
  try {
    /** @type {Record<string, string>} */
    const headers = cfg.token ? { Authorization: `token ${cfg.token}` } : {};
    const r = await fetch(`${base}api/me`, { credentials: "same-origin", headers });
    if (r.ok) {
      const me = (await r.json()).identity || {};
      if (me.username) {
        const user = String(me.username).replace(/[^A-Za-z0-9_.@+:-]/g, "_").slice(0, 128);
        // eslint-disable-next-line no-control-regex
        const name = String(me.display_name || me.name || me.username).replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "").trim().slice(0, 80) || user.slice(0, 80);
        const colour = /^#[0-9a-fA-F]{6}$/.test(me.color || "") ? me.color : colourOf(user);
        return { user, name, colour };
      }
    }
  } catch { /* not in a Jupyter server page */ }
  let id = "";
  try { id = sessionStorage.getItem("nbv-guest") || ""; } catch { /* storage blocked */ }
  if (!id) {
    id = `guest-${Math.random().toString(36).slice(2, 10)}`;
    try { sessionStorage.setItem("nbv-guest", id); } catch { /* storage blocked */ }
  }
  return { user: id, name: "Guest", colour: colourOf(id) };
}

/**
 * Tell the kernel which cards this browser shows and edits, now and every heartbeat, and that
 * it left when the view goes away. Sends only when something changed, except the heartbeat.
 * @param {ReturnType<typeof client>} api
 * @param {() => number} heartbeatS
 * @param {() => string[]} known the board's scene ids now (a deleted card is not reported)
 * @param {(lockedBy: string) => void} onRefused called when an edit claim is refused
 */
function presenceTracker(api, heartbeatS, known, onRefused) {
  /** @type {Me | null} */
  let me = null;
  /** @type {Set<string>} */
  const viewing = new Set();
  /** @type {string | null} */
  let editing = null;
  let last = "";
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let closed = false;

  async function send(force = false) {
    if (!me || closed) return;
    const ids = new Set(known());
    const body = { ...me, viewing: [...viewing].filter((id) => ids.has(id)).sort(),
      editing: editing && ids.has(editing) ? editing : null };
    const text = JSON.stringify(body);
    if (!force && text === last) return;
    last = text;
    const reply = await api.request("presence", body);
    if (reply.ok && reply.result && reply.result.locked_by) onRefused(reply.result.locked_by);
  }
  function beat() {
    send(true);
    timer = setTimeout(beat, Math.max(1, heartbeatS()) * 1000);
  }
  whoAmI().then((m) => { me = m; beat(); });
  const leave = () => { if (me && !closed) api.request("presence", { ...me, left: true }); };
  window.addEventListener("pagehide", leave);
  return {
    /** @returns {Me | null} */
    me: () => me,
    /** @param {string} id @param {boolean} on */
    view(id, on) { if (on) viewing.add(id); else viewing.delete(id); send(); },
    /** @param {string | null} id */
    edit(id) { if (editing === id) return; editing = id; send(); },
    dispose() {
      leave();
      closed = true;
      clearTimeout(timer);
      window.removeEventListener("pagehide", leave);
    },
  };
}

/** Initials for a presence dot: "Anonymous Io" -> "AI". @param {string} name */
function initials(name) {
  const parts = name.split(/\s+/).filter(Boolean);
  return (parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : name.slice(0, 2)).toUpperCase();
}
