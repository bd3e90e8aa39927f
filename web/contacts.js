// Contacts and groups: who a {"group": name} send reaches, with fields for placeholders.

import { get, post } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { createForm, deleteButton, field, layout, parsePairs } from "./crud.js";

export function mount(root) {
  const number = h("input", { name: "number", required: true, inputmode: "tel", autocomplete: "off", placeholder: "+15551234567" });
  const name = h("input", { name: "name", maxlength: 200, autocomplete: "off", placeholder: "Ann" });
  const fields = h("textarea", { name: "fields", rows: 2, placeholder: "appointment=Tuesday 10:00" });
  const form = createForm({
    id: "new-contact",
    title: "New contact",
    button: "Add contact",
    fields: [
      field("contact-number", "Number", number),
      field("contact-name", "Name", name),
      field("contact-fields", "Fields", fields, "name=value, one a line: {name} in a template is filled from them."),
    ],
    read: () => ({ number: number.value.trim(), name: name.value.trim(), fields: parsePairs(fields.value) }),
    save: (body) => post("/api/v1/contacts", body),
    done: load,
  });
  const groupName = h("input", { name: "group", required: true, maxlength: 64, autocomplete: "off", placeholder: "patients" });
  const groupForm = createForm({
    id: "new-group",
    title: "New group",
    button: "Create group",
    fields: [field("group-name", "Name", groupName)],
    read: () => ({ name: groupName.value.trim() }),
    save: (body) => post("/api/v1/groups", body),
    done: load,
  });
  const page = layout(root, {
    title: "Contacts",
    intro: "Contacts and groups, for sends with {\"group\": name} and template placeholders.",
    listTitle: "Contacts",
    columns: ["Name", "Number", "Fields", ""],
    form: h("div", { class: "stack" }, form, groupForm),
  });
  const groups = h("div", { class: "hook-list", id: "groups" });
  root.append(h("section", { class: "groups", "aria-labelledby": "groups-title" }, h("h2", { id: "groups-title", class: "section-title" }, "Groups"), groups));
  let contacts = [];

  function row(c) {
    const pairs = Object.entries(c.fields).map(([k, v]) => `${k}=${v}`).join(" · ");
    return h(
      "tr",
      { dataset: { number: c.number } },
      h("td", { "data-label": "Name" }, h("strong", null, c.name || "—")),
      h("td", { "data-label": "Number" }, c.number),
      h("td", { "data-label": "Fields", class: "small" }, pairs),
      h("td", { class: "cell-actions" }, deleteButton(c.name || c.number, `/api/v1/contacts/${c.id}`, `contact ${c.name || c.number}`, load)),
    );
  }

  function groupCard(g, members) {
    const choice = h(
      "select",
      { "aria-label": `Contact to add to ${g.name}` },
      contacts.filter((c) => !members.some((m) => m.id === c.id)).map((c) => h("option", { value: c.id }, `${c.name || c.number} (${c.number})`)),
    );
    const add = h("button", {
      type: "button",
      class: "small",
      onclick: async () => {
        if (!choice.value) return;
        try {
          await post(`/api/v1/groups/${g.id}/members`, { contacts: [Number(choice.value)] });
          load();
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    }, "Add");
    return h(
      "article",
      { class: "card hook", "aria-label": `Group ${g.name}`, dataset: { members: members.length } },
      h("h3", null, g.name, " ", h("span", { class: "chip" }, `${members.length} ${members.length === 1 ? "contact" : "contacts"}`)),
      h("ul", { class: "members" }, members.map((m) => h("li", null, `${m.name || m.number} · ${m.number}`))),
      h("div", { class: "actions" }, choice, add, deleteButton(g.name, `/api/v1/groups/${g.id}`, `group “${g.name}”`, load)),
    );
  }

  async function load() {
    try {
      contacts = (await get("/api/v1/contacts")).contacts;
      const list = (await get("/api/v1/groups")).groups;
      const details = await Promise.all(list.map((g) => get(`/api/v1/groups/${g.id}`)));
      fill(groups, details.length ? details.map((g) => groupCard(g, g.contacts)) : h("p", { class: "muted" }, "No groups yet."));
      page.show(contacts, row, "No contacts yet");
    } catch (err) {
      page.failed(err);
    }
  }

  load();
}
