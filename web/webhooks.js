// Webhooks (admin): endpoints with their event filter, the signing secret shown once,
// test-fire, the delivery log with every attempt, replay, pause and delete.

import { ApiError, call, del, get, post } from "./api.js";
import { confirmDialog, fill, h, toast } from "./dom.js";
import { ago, fullTime, plural, shortTime } from "./format.js";
import { emptyState, errorLine } from "./widgets.js";

const EVENTS = [
  ["sms.received", "SMS received"],
  ["sms.sent", "SMS sent"],
  ["sms.delivered", "SMS delivered"],
  ["sms.failed", "SMS failed"],
  ["sms.queued", "SMS queued"],
  ["sim.quarantined", "SIM quarantined (its sends keep failing)"],
  ["sim.recovered", "SIM back in the pool"],
  ["sim.balance_low", "SIM balance low"],
  ["sim.expiring", "SIM expiring soon"],
  ["sim.*", "SIM online, offline, changes, quarantine, balance, expiry"],
];
const LOG_PAGE = 20;

export function mount(root, ctx) {
  const list = h("div", { class: "hook-list" });
  const revealed = h("div", { class: "reveal-slot", "aria-live": "polite" });
  const url = h("input", { id: "hook-url", name: "url", type: "url", required: true, autocomplete: "off", placeholder: "https://example.lan/sms-hook" });
  const kind = h(
    "select",
    { id: "hook-kind", name: "kind", onchange: () => syncKind() },
    h("option", { value: "standard" }, "Standard (signed JSON events)"),
    h("option", { value: "homeassistant" }, "Home Assistant (event sms.incoming_sms)"),
  );
  const everything = h("input", { type: "checkbox", id: "hook-all", value: "*", onchange: () => syncKind() });
  const boxes = EVENTS.map(([value]) => h("input", { type: "checkbox", name: "events", value, id: `ev-${value}`, checked: value === "sms.received" }));
  const headers = h("textarea", { id: "hook-headers", name: "headers", rows: 2, placeholder: "Authorization: Bearer …", "aria-describedby": "hook-headers-help" });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Add webhook");
  const eventsSet = h(
    "fieldset",
    { class: "scopes" },
    h("legend", null, "Events"),
    h("label", { class: "check", for: "hook-all" }, everything, h("span", null, h("strong", null, "Everything"), h("span", { class: "muted" }, " (*)"))),
    EVENTS.map(([value, label], i) => h("label", { class: "check", for: `ev-${value}` }, boxes[i], h("span", null, label, h("code", { class: "muted small" }, ` ${value}`)))),
  );

  function syncKind() {
    const ha = kind.value === "homeassistant";
    for (const box of [everything, ...boxes]) {
      box.disabled = ha || (box !== everything && everything.checked);
      if (ha) box.checked = box.value === "sms.received";
    }
  }

  fill(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Webhooks"),
      h("p", { class: "muted" }, "relayd POSTs each event to your endpoints, signed, retried until they answer 2xx."),
    ),
    revealed,
    h(
      "div",
      { class: "keys-layout" },
      h("section", { "aria-labelledby": "hooks-title" }, h("h2", { id: "hooks-title", class: "section-title" }, "Endpoints"), list),
      h(
        "form",
        { class: "card key-form", "aria-labelledby": "new-hook-title", onsubmit: (e) => create(e) },
        h("h2", { id: "new-hook-title", class: "section-title" }, "New webhook"),
        h("div", { class: "field" }, h("label", { for: "hook-url" }, "URL"), url),
        h("div", { class: "field" }, h("label", { for: "hook-kind" }, "Kind"), kind),
        eventsSet,
        h(
          "div",
          { class: "field" },
          h("label", { for: "hook-headers" }, "Extra headers"),
          headers,
          h("p", { class: "hint", id: "hook-headers-help" }, "One “Name: value” a line, e.g. Home Assistant's long-lived token."),
        ),
        error,
        h("div", { class: "actions" }, button),
      ),
    ),
  );

  async function load() {
    try {
      const { webhooks } = await get("/api/v1/webhooks");
      const open = new Set([...list.querySelectorAll(".hook[data-open=true]")].map((n) => n.dataset.hook));
      fill(list, webhooks.length ? webhooks.map((w) => hookCard(w, open.has(String(w.id)))) : h("div", { class: "card" }, emptyState("No webhook yet", "Add an endpoint to hear of every SMS as it arrives.")));
      root.dataset.ready = "true";
    } catch (err) {
      fill(list, errorLine(err));
    }
  }

  function hookCard(w, open) {
    const result = h("p", { class: "fire-result", "aria-live": "polite" });
    const log = h("div", { class: "hook-log" });
    const card = h(
      "article",
      { class: ["card", "hook", !w.enabled && "paused"], dataset: { hook: w.id, open: String(open) }, "aria-label": `Webhook ${w.url}` },
      h(
        "header",
        { class: "sim-head" },
        h("div", { class: "hook-title" }, h("code", { class: "hook-url" }, w.url), h("span", { class: "sim-kind" }, `${w.kind}${w.source === "config" ? " · from the config file" : ""}`)),
        h("span", { class: ["state", w.enabled ? "on" : "off"] }, h("span", { class: "dot", "aria-hidden": "true" }), w.enabled ? "Enabled" : "Paused"),
      ),
      w.disabled_reason ? h("p", { class: "sim-detail" }, w.disabled_reason) : null,
      h("p", { class: "hook-events" }, w.events.map((e) => h("span", { class: "chip" }, e))),
      h(
        "dl",
        { class: "sim-counts" },
        h("div", null, h("dt", null, "Delivered"), h("dd", null, String(w.delivered))),
        h("div", null, h("dt", null, "Pending"), h("dd", null, String(w.pending))),
        h("div", null, h("dt", null, "Failed"), h("dd", { class: w.failed ? "bad-count" : null }, String(w.failed))),
      ),
      h("p", { class: "muted small" }, "Secret ", h("code", null, w.secret), ` · added ${shortTime(w.created_at)}`),
      h(
        "div",
        { class: "hook-actions" },
        h("button", { type: "button", class: "small", disabled: !w.enabled, onclick: () => fire(w, result, log) }, "Send test"),
        h(
          "button",
          { type: "button", class: "small", "aria-expanded": String(open), onclick: (e) => toggleLog(w, card, log, e.currentTarget) },
          "Deliveries",
        ),
        w.failed ? h("button", { type: "button", class: "small", disabled: !w.enabled, onclick: () => replay(w, null, log) }, `Replay ${plural(w.failed, "failed delivery", "failed deliveries")}`) : null,
        h("button", { type: "button", class: "small ghost", onclick: () => setEnabled(w, !w.enabled) }, w.enabled ? "Pause" : "Enable"),
        w.source === "api" ? h("button", { type: "button", class: "small danger", "aria-label": `Delete webhook ${w.url}`, onclick: () => remove(w) }, "Delete") : null,
      ),
      result,
      log,
    );
    if (open) loadLog(w, log);
    return card;
  }

  async function fire(w, result, log) {
    fill(result, h("span", { class: "muted" }, "Sending a test event…"));
    try {
      const { delivery } = await post(`/api/v1/webhooks/${w.id}/test`, {});
      const attempt = delivery.log[delivery.log.length - 1];
      fill(
        result,
        h("span", { class: `badge st-${delivery.status === "delivered" ? "delivered" : delivery.status === "failed" ? "failed" : "queued"}` }, delivery.status),
        " ",
        attempt ? describeAttempt(attempt) : "no answer yet",
      );
      result.dataset.status = delivery.status;
      if (log.childElementCount) loadLog(w, log);
    } catch (err) {
      fill(result, h("span", { class: "error" }, err.message));
    }
  }

  function toggleLog(w, card, log, toggle) {
    const open = card.dataset.open !== "true";
    card.dataset.open = String(open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) loadLog(w, log);
    else fill(log);
  }

  async function loadLog(w, log, before = null) {
    try {
      const page = await get(`/api/v1/webhooks/${w.id}/deliveries`, { limit: LOG_PAGE, before_id: before });
      const rows = page.deliveries.map((d) => deliveryRows(w, d, log));
      if (before === null) {
        fill(
          log,
          page.deliveries.length
            ? h(
                "table",
                { class: "deliveries" },
                h("thead", null, h("tr", null, ["When", "Event", "Status", "Answer", ""].map((t) => h("th", { scope: "col" }, t)))),
                h("tbody", null, rows),
              )
            : h("p", { class: "muted small" }, "No delivery yet."),
        );
      } else {
        log.querySelector("tbody").append(...rows.flat());
      }
      log.querySelector(".more")?.remove();
      if (page.next_before_id) {
        log.append(h("button", { type: "button", class: "ghost small more", onclick: () => loadLog(w, log, page.next_before_id) }, "Older deliveries"));
      }
    } catch (err) {
      fill(log, errorLine(err));
    }
  }

  function deliveryRows(w, d, log) {
    const last = d.log[d.log.length - 1];
    const attempts = h(
      "tr",
      { class: "attempts", hidden: true },
      h(
        "td",
        { colspan: 5 },
        h(
          "ol",
          { class: "attempt-list" },
          d.log.map((a) => h("li", null, h("time", { datetime: a.at, title: fullTime(a.at) }, shortTime(a.at)), " ", describeAttempt(a), a.response ? h("pre", { class: "response" }, a.response) : null)),
        ),
        h("p", { class: "muted small" }, `webhook-id ${d.msg_id}`, d.next_attempt_at ? ` · next try ${ago(d.next_attempt_at)}` : ""),
      ),
    );
    const toggle = h(
      "button",
      {
        type: "button",
        class: "ghost small",
        "aria-expanded": "false",
        onclick: (e) => {
          attempts.hidden = !attempts.hidden;
          e.currentTarget.setAttribute("aria-expanded", String(!attempts.hidden));
        },
      },
      plural(d.attempts, "attempt"),
    );
    return [
      h(
        "tr",
        { dataset: { delivery: d.id, status: d.status } },
        h("td", { title: fullTime(d.created_at) }, shortTime(d.created_at)),
        h("td", null, h("code", null, d.type)),
        h("td", null, h("span", { class: `badge st-${d.status === "pending" ? "queued" : d.status}` }, d.status)),
        h("td", { class: "small" }, last ? describeAttempt(last) : "—", " ", toggle),
        h("td", { class: "cell-actions" }, h("button", { type: "button", class: "small", disabled: !w.enabled, onclick: () => replay(w, d.id, log) }, "Replay")),
      ),
      attempts,
    ];
  }

  async function replay(w, deliveryId, log) {
    try {
      const body = deliveryId === null ? {} : { delivery_id: deliveryId };
      const { replayed } = await post(`/api/v1/webhooks/${w.id}/replay`, body);
      toast(replayed.length ? `${plural(replayed.length, "delivery", "deliveries")} queued again` : "Nothing to replay", "ok");
      setTimeout(() => (log.childElementCount ? loadLog(w, log) : load()), 800);
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function setEnabled(w, enabled) {
    try {
      await call("PATCH", `/api/v1/webhooks/${w.id}`, { body: { enabled } });
      load();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function remove(w) {
    if (!(await confirmDialog("Delete this webhook?", `${w.url} gets no more events; its queue and delivery log go too.`, "Delete"))) return;
    try {
      await del(`/api/v1/webhooks/${w.id}`);
      toast("Webhook deleted", "ok");
      load();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function create(event) {
    event.preventDefault();
    fill(error);
    const events = everything.checked ? ["*"] : boxes.filter((b) => b.checked).map((b) => b.value);
    const extra = {};
    for (const line of headers.value.split("\n")) {
      if (!line.trim()) continue;
      const at = line.indexOf(":");
      if (at < 1) {
        fill(error, `“${line.trim()}” is not “Name: value”.`);
        headers.focus();
        return;
      }
      extra[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    button.disabled = true;
    try {
      const created = await post("/api/v1/webhooks", { url: url.value.trim(), kind: kind.value, events, headers: extra });
      url.value = "";
      headers.value = "";
      reveal(created);
      load();
    } catch (err) {
      fill(error, err instanceof ApiError ? err.message : String(err));
    } finally {
      button.disabled = false;
    }
  }

  function reveal(created) {
    const done = h("button", { type: "button", class: "ghost", onclick: () => fill(revealed) }, "Done");
    fill(
      revealed,
      h(
        "div",
        { class: "card reveal", role: "alert" },
        h("h2", { class: "section-title" }, "Webhook added"),
        h("p", null, "Its signing secret, to verify the webhook-signature header. It is shown this once."),
        h("div", { class: "secret-row" }, h("code", { class: "secret", id: "new-hook-secret" }, created.secret), done),
      ),
    );
    done.focus();
  }

  syncKind();
  load();
  return () => fill(revealed);
}

function describeAttempt(a) {
  const outcome = a.status_code ? `HTTP ${a.status_code}` : a.error || "no answer";
  return `${outcome} in ${a.duration_ms} ms`;
}
