// QuestionForm view: one card per clarifying question; keyboard first.
/** @import { Render } from "@anywidget/types" */

const OTHER = "__other__";

/**
 * @typedef {{ id: string, prompt: string, kind: "choice" | "text", choices: string[],
 *   allow_other: boolean, required: boolean, default: string | null, help: string }} Question
 */

/** @type {Render} */
function render({ model, el }) {
  const api = client(model);
  const uid = Math.random().toString(36).slice(2, 8);
  const err = errorLine(model);
  const status = h("span", { class: "nbv-status", "aria-live": "polite" });
  const count = h("span", { class: "nbv-muted" });
  const list = h("ol", { class: "nbv-qlist" });
  const submit = h("button", {
    type: "submit", class: "nbv-primary", "data-action": "submit", text: "Save answers",
  });
  const form = h("form", { class: "nbv-form", "aria-label": "Clarifying questions", novalidate: true },
    list, h("div", { class: "nbv-actions" }, submit, status));
  const root = h("div", { class: "nbv nbv-questions" },
    h("div", { class: "nbv-head" }, h("strong", { text: "Questions" }), count), err.el, form);
  ownKeys(root);
  el.append(root);

  /** @param {Question} q @param {string | undefined} given */
  function card(q, given) {
    const legendId = `nbv-${uid}-${q.id}-label`;
    const helpId = `nbv-${uid}-${q.id}-help`;
    const value = given ?? q.default ?? "";
    const li = h("li", {
      class: "nbv-card nbv-question", "data-question-id": q.id,
      "data-answered": given !== undefined ? "true" : "false",
    });
    const fs = h("fieldset", { "aria-describedby": q.help ? helpId : null },
      h("legend", { id: legendId }, q.prompt,
        given !== undefined ? h("span", { class: "nbv-badge", text: "answered" })
          : h("span", { class: "nbv-badge nbv-muted", text: q.default ? "default" : "open" })),
      q.help ? h("p", { class: "nbv-help", id: helpId, text: q.help }) : null);
    if (q.kind === "choice") {
      const name = `nbv-${uid}-${q.id}`;
      const known = q.choices.some((c) => c.toLowerCase() === value.toLowerCase());
      const group = h("div", { role: "radiogroup", "aria-labelledby": legendId, class: "nbv-choices" });
      for (const c of q.choices) {
        group.append(h("label", { class: "nbv-choice" },
          h("input", { type: "radio", name, value: c, checked: known && c.toLowerCase() === value.toLowerCase() }),
          h("span", { text: c })));
      }
      if (q.allow_other) {
        const other = h("input", {
          type: "text", class: "nbv-other-text", "aria-label": `Other answer: ${q.prompt}`,
          value: known ? "" : value, maxlength: 500,
        });
        const radio = h("input", { type: "radio", name, value: OTHER, checked: !known && value !== "", "aria-label": "Other" });
        other.addEventListener("input", () => { /** @type {HTMLInputElement} */ (radio).checked = true; });
        group.append(h("label", { class: "nbv-choice nbv-other" }, radio, h("span", { text: "Other:" }), other));
      }
      fs.append(group);
    } else {
      fs.append(h("input", {
        type: "text", class: "nbv-text", "aria-labelledby": legendId, value, maxlength: 500,
        "data-field": "answer", required: q.required,
      }));
    }
    li.append(fs);
    return li;
  }

  /** The value a card holds now ("" if none). @param {HTMLElement} li */
  function valueOf(li) {
    const checked = /** @type {HTMLInputElement | null} */ (li.querySelector("input[type=radio]:checked"));
    if (checked) {
      if (checked.value !== OTHER) return checked.value;
      return /** @type {HTMLInputElement} */ (li.querySelector(".nbv-other-text")).value.trim();
    }
    const text = /** @type {HTMLInputElement | null} */ (li.querySelector("input.nbv-text"));
    return text ? text.value.trim() : "";
  }

  /** @param {HTMLElement} li */
  function focusCard(li) {
    const target = /** @type {HTMLElement | null} */ (
      li.querySelector("input[type=radio]:checked") || li.querySelector("input"));
    target?.focus();
  }

  function draw() {
    const focusedId = /** @type {HTMLElement | null} */ (document.activeElement?.closest?.("[data-question-id]"))
      ?.dataset.questionId;
    /** @type {Question[]} */
    const questions = model.get("questions") || [];
    /** @type {Record<string, string>} */
    const answers = model.get("answers") || {};
    list.replaceChildren(...questions.map((q) => card(q, answers[q.id])));
    const n = questions.filter((q) => answers[q.id] !== undefined).length;
    count.textContent = `${n} of ${questions.length} answered`;
    submit.toggleAttribute("disabled", questions.length === 0);
    if (focusedId) {
      const li = /** @type {HTMLElement | null} */ (list.querySelector(`[data-question-id="${focusedId}"]`));
      if (li) focusCard(li);
    }
  }

  async function save() {
    /** @type {Record<string, string>} */
    const answers = {};
    for (const li of /** @type {NodeListOf<HTMLElement>} */ (list.querySelectorAll("[data-question-id]"))) {
      const v = valueOf(li);
      if (v) answers[/** @type {string} */ (li.dataset.questionId)] = v;
    }
    submit.setAttribute("aria-busy", "true");
    const reply = await api.request("answer", { answers });
    submit.removeAttribute("aria-busy");
    if (reply.ok) announce(status, `Saved ${Object.keys(answers).length} answers`);
    else err.show(reply.error || "not saved");
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); save(); });
  // Enter moves to the next question; on the last one it saves.
  form.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    const t = /** @type {HTMLElement} */ (e.target);
    if (t.tagName === "BUTTON") return;
    const li = /** @type {HTMLElement | null} */ (t.closest("[data-question-id]"));
    if (!li) return;
    e.preventDefault();
    const next = /** @type {HTMLElement | null} */ (li.nextElementSibling);
    if (next) focusCard(next);
    else save();
  });

  model.on("change:questions", draw);
  model.on("change:answers", draw);
  draw();
  return () => {
    model.off("change:questions", draw);
    model.off("change:answers", draw);
    err.dispose();
    api.dispose();
    root.remove();
  };
}

export default { render };
