// What the workflow pages share: a table of rows beside a form that creates one, a delete
// button that asks first, and field helpers. Every text goes in as text (see dom.js).

import { ApiError, del } from "./api.js";
import { confirmDialog, fill, h, toast } from "./dom.js";
import { emptyState, errorLine } from "./widgets.js";

/** A labelled field: h("div.field", label, control, hint). */
export function field(id, label, control, hint) {
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("p", { class: "hint" }, hint) : null);
}

/** The page: a head, a table card (columns) and a form card; returns the parts to fill. */
export function layout(root, { title, intro, listTitle, columns, form }) {
  const body = h("tbody");
  const footer = h("div", { class: "list-footer" });
  const slug = title.toLowerCase().replace(/[^a-z]+/g, "-");
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", null, title), h("p", { class: "muted" }, intro)),
    h(
      "div",
      { class: "keys-layout" },
      h(
        "section",
        { class: "card table-card", "aria-labelledby": `${slug}-list` },
        h("h2", { id: `${slug}-list`, class: "section-title pad" }, listTitle),
        h("table", { class: "keys flows" }, h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col" }, c)))), body),
        footer,
      ),
      form,
    ),
  );
  return {
    body,
    /** Show `rows` (made by `render`), or an empty state; mark the page ready. */
    show(rows, render, empty) {
      fill(body, rows.map(render));
      fill(footer, rows.length ? null : emptyState(empty, ""));
      root.dataset.ready = "true";
    },
    failed(err) {
      fill(footer, errorLine(err));
    },
  };
}

/** A form card that posts what `read()` gives to `save(body)`, then resets and reloads. */
export function createForm({ id, title, fields, button, read, save, done }) {
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, button);
  const form = h(
    "form",
    {
      class: "card key-form",
      id,
      "aria-labelledby": `${id}-title`,
      onsubmit: async (event) => {
        event.preventDefault();
        fill(error);
        submit.disabled = true;
        try {
          await save(read());
          form.reset();
          done();
        } catch (err) {
          fill(error, err instanceof ApiError || err instanceof Error ? err.message : String(err));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h2", { id: `${id}-title`, class: "section-title" }, title),
    fields,
    error,
    h("div", { class: "actions" }, submit),
  );
  return form;
}

/** A Delete button: asks, deletes `path`, says so, then `done()`. */
export function deleteButton(label, path, what, done) {
  return h(
    "button",
    {
      type: "button",
      class: "danger small",
      "aria-label": `Delete ${label}`,
      onclick: async () => {
        if (!(await confirmDialog(`Delete ${what}?`, "This can't be undone.", "Delete"))) return;
        try {
          await del(path);
          toast(`Deleted ${what}`, "ok");
          done();
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    },
    "Delete",
  );
}

/** `key=value` lines as an object (contact fields, template vars). */
export function parsePairs(text) {
  const out = {};
  for (const line of text.split(/\n|;/)) {
    const at = line.indexOf("=");
    if (at < 0) {
      if (line.trim()) throw new Error(`“${line.trim()}”: write name=value`);
      continue;
    }
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}
