// Templates: named texts with {placeholders}, sent with {"template": name, "vars": {...}}.

import { get, post } from "./api.js";
import { h } from "./dom.js";
import { createForm, deleteButton, field, layout } from "./crud.js";

export function mount(root) {
  const name = h("input", { name: "name", required: true, maxlength: 64, autocomplete: "off", placeholder: "reminder" });
  const text = h("textarea", { name: "text", required: true, rows: 4, maxlength: 5000, placeholder: "Hi {name}, see you {appointment}." });
  const form = createForm({
    id: "new-template",
    title: "New template",
    button: "Create template",
    fields: [
      field("template-name", "Name", name),
      field("template-text", "Text", text, "Placeholders are {name}, {number} and a contact's fields, or vars given with the send. {{ writes a brace."),
    ],
    read: () => ({ name: name.value.trim(), text: text.value }),
    save: (body) => post("/api/v1/templates", body),
    done: load,
  });
  const page = layout(root, {
    title: "Templates",
    intro: "Texts with placeholders, for sends to numbers or to a contact group.",
    listTitle: "Templates",
    columns: ["Name", "Text", "Placeholders", ""],
    form,
  });

  function row(t) {
    return h(
      "tr",
      { dataset: { name: t.name } },
      h("td", { "data-label": "Name" }, h("strong", null, t.name)),
      h("td", { "data-label": "Text", class: "small pre" }, t.text),
      h("td", { "data-label": "Placeholders" }, t.placeholders.map((p) => h("span", { class: "chip" }, p))),
      h("td", { class: "cell-actions" }, deleteButton(t.name, `/api/v1/templates/${t.id}`, `template “${t.name}”`, load)),
    );
  }

  async function load() {
    try {
      const { templates } = await get("/api/v1/templates");
      page.show(templates, row, "No templates yet");
    } catch (err) {
      page.failed(err);
    }
  }

  load();
}
