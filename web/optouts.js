// Opt-outs: numbers that sent a stop word (or were added here); sends to them are refused.

import { get, post } from "./api.js";
import { h } from "./dom.js";
import { fullTime, shortTime } from "./format.js";
import { createForm, deleteButton, field, layout } from "./crud.js";

export function mount(root) {
  const number = h("input", { name: "number", required: true, inputmode: "tel", autocomplete: "off", placeholder: "+15551234567" });
  const words = h("p", { class: "hint", id: "optout-words" });
  const form = createForm({
    id: "new-optout",
    title: "Add a number",
    button: "Add to the list",
    fields: [field("optout-number", "Number", number), words],
    read: () => ({ number: number.value.trim() }),
    save: (body) => post("/api/v1/optouts", body),
    done: load,
  });
  const page = layout(root, {
    title: "Opt-outs",
    intro: "Numbers that may not be sent to. Keys with “ignore opt-out” still may.",
    listTitle: "Opted out",
    columns: ["Number", "Since", "How", ""],
    form,
  });

  function row(o) {
    return h(
      "tr",
      { dataset: { number: o.number } },
      h("td", { "data-label": "Number" }, h("strong", null, o.number)),
      h("td", { "data-label": "Since", class: "small", title: fullTime(o.since) }, shortTime(o.since)),
      h("td", { "data-label": "How", class: "small" }, o.source === "sms" ? `sent a stop word (SMS ${o.message_id})` : "added by hand"),
      h("td", { class: "cell-actions" }, deleteButton(o.number, `/api/v1/optouts/${encodeURIComponent(o.number)}`, `${o.number} from the list`, load)),
    );
  }

  async function load() {
    try {
      const [{ optouts }, settings] = await Promise.all([get("/api/v1/optouts"), get("/api/v1/optout-settings")]);
      words.textContent = settings.enabled
        ? `An SMS that is just ${settings.stop_words.join(" or ")} opts out; ${settings.start_words.join(" or ")} opts back in.`
        : "Stop words are off for this org: only this list counts.";
      page.show(optouts, row, "Nobody opted out");
    } catch (err) {
      page.failed(err);
    }
  }

  load();
}
