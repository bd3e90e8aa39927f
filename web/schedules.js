// Schedules: recurring sends by an RRULE from a start in a time zone; pause, resume, delete.

import { get, patch, post } from "./api.js";
import { h, toast } from "./dom.js";
import { fullTime } from "./format.js";
import { createForm, deleteButton, field, layout, parsePairs } from "./crud.js";

const PRESETS = [
  ["FREQ=DAILY", "Every day"],
  ["FREQ=WEEKLY;BYDAY=MO", "Every Monday"],
  ["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "Every weekday"],
  ["FREQ=MONTHLY;BYMONTHDAY=1", "On the 1st of each month"],
];

export function mount(root) {
  const rule = h("input", { name: "rule", required: true, maxlength: 300, list: "rule-presets", autocomplete: "off", value: "FREQ=WEEKLY;BYDAY=MO" });
  const presets = h("datalist", { id: "rule-presets" }, PRESETS.map(([value, label]) => h("option", { value }, label)));
  const start = h("input", { name: "start", type: "datetime-local", required: true });
  const zone = h("input", { name: "timezone", required: true, maxlength: 64, value: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC" });
  const to = h("input", { name: "to", autocomplete: "off", placeholder: "+15551234567, +15557654321" });
  const group = h("input", { name: "group", autocomplete: "off", placeholder: "or a group's name" });
  const text = h("textarea", { name: "text", rows: 3, maxlength: 5000, placeholder: "Reminder: stand-up at 9:30" });
  const template = h("input", { name: "template", autocomplete: "off", placeholder: "or a template's name" });
  const vars = h("input", { name: "vars", autocomplete: "off", placeholder: "place=Main St 4" });
  const form = createForm({
    id: "new-schedule",
    title: "New recurring send",
    button: "Create schedule",
    fields: [
      field("schedule-rule", "Rule (RRULE)", rule, "DAILY, WEEKLY or MONTHLY; the time of day is the start's."), presets,
      h("div", { class: "row" }, field("schedule-start", "First run", start), field("schedule-zone", "Time zone", zone)),
      h("div", { class: "row" }, field("schedule-to", "To", to), field("schedule-group", "Group", group)),
      field("schedule-text", "Text", text),
      h("div", { class: "row" }, field("schedule-template", "Template", template), field("schedule-vars", "Vars", vars)),
    ],
    read: () => {
      const body = { rule: rule.value.trim(), start: start.value, timezone: zone.value.trim() };
      const numbers = to.value.split(/[,\s]+/).filter(Boolean);
      if (numbers.length) body.to = numbers;
      if (group.value.trim()) body.group = group.value.trim();
      if (text.value.trim()) body.text = text.value;
      if (template.value.trim()) body.template = template.value.trim();
      if (vars.value.trim()) body.vars = parsePairs(vars.value);
      return body;
    },
    save: (body) => post("/api/v1/schedules", body),
    done: () => {
      rule.value = "FREQ=WEEKLY;BYDAY=MO";
      load();
    },
  });
  const page = layout(root, {
    title: "Schedules",
    intro: "Recurring sends. A run missed while the relay was off is sent once, late.",
    listTitle: "Recurring sends",
    columns: ["Rule", "To", "Message", "Next run", ""],
    form,
  });

  function row(s) {
    const toggle = h("button", {
      type: "button",
      class: "small",
      "aria-label": `${s.paused ? "Resume" : "Pause"} ${s.name || s.rule}`,
      onclick: async () => {
        try {
          await patch(`/api/v1/schedules/${s.id}`, { paused: !s.paused });
          load();
        } catch (err) {
          toast(err.message, "bad");
        }
      },
    }, s.paused ? "Resume" : "Pause");
    const next = s.paused ? "paused" : s.next_run ? fullTime(s.next_run) : "ended";
    return h(
      "tr",
      { dataset: { id: s.id, paused: String(s.paused) } },
      h("td", { "data-label": "Rule" }, h("strong", null, s.name || s.rule), s.name ? h("div", { class: "muted small" }, s.rule) : null, h("div", { class: "muted small" }, s.timezone)),
      h("td", { "data-label": "To", class: "small" }, s.group ? `group ${s.group}` : (s.to || []).join(", ")),
      h("td", { "data-label": "Message", class: "small" }, s.template ? `template ${s.template}` : s.text, s.last_error ? h("div", { class: "error small" }, s.last_error) : null),
      h("td", { "data-label": "Next run", class: "small next-run" }, next, h("div", { class: "muted small" }, `${s.runs} run${s.runs === 1 ? "" : "s"}`)),
      h("td", { class: "cell-actions" }, toggle, deleteButton(s.name || s.rule, `/api/v1/schedules/${s.id}`, "this schedule", load)),
    );
  }

  async function load() {
    try {
      const { schedules } = await get("/api/v1/schedules");
      page.show(schedules, row, "No recurring sends");
    } catch (err) {
      page.failed(err);
    }
  }

  load();
}
