// Send: recipients, text with a live GSM-7/UCS-2 counter (checked against the relay's
// dry run), SIM and schedule; then each message's state as it moves, live.

import { ApiError, del, get, post } from "./api.js";
import { debounce, fill, h, toast } from "./dom.js";
import { END_STATES, OUT_STATES, encodingLabel, fullTime, isNewerState, plural, shortTime, simLabel } from "./format.js";
import { planSms } from "./sms.js";
import { statusBadge } from "./widgets.js";

/** "+1 555 123, +44 20…\n+49…" -> ["+1555123", …]: split on commas, semicolons, new lines. */
export function parseRecipients(value) {
  return value
    .split(/[,;\n]+/)
    .map((part) => part.trim())
    .filter(Boolean);
}

// Ask the relay only about numbers that could be complete (no 422 for every keystroke).
const looksLikeNumber = (value) => /^\+?[0-9 ()./-]+$/.test(value) && value.replace(/\D/g, "").length >= 7;

export function mount(root, ctx) {
  const tracked = new Map(); // id -> {message, node}
  const to = h("textarea", {
    id: "send-to",
    name: "to",
    rows: 1,
    required: true,
    autocomplete: "off",
    inputmode: "tel",
    placeholder: "+15551234567",
    "aria-describedby": "send-to-help",
  });
  const text = h("textarea", { id: "send-text", name: "text", rows: 6, required: true, "aria-describedby": "send-counter" });
  const counter = h("div", { class: "counter-line", id: "send-counter", "aria-live": "polite" });
  const serverCheck = h("div", { class: "server-check", id: "send-check", "aria-live": "polite" });
  const parts = h("div", { class: "parts", "aria-hidden": "true" });
  const sim = h(
    "select",
    { id: "send-sim", name: "sim" },
    h("option", { value: "" }, "Automatic (routing rules)"),
    ctx.sims.map((x) => h("option", { value: x.id }, `${x.name}${x.number ? ` · ${x.number}` : ""}${x.online ? "" : " (offline)"}`)),
  );
  const when = h("input", { id: "send-at", name: "send_at", type: "datetime-local" });
  const gsmOnly = h("input", { id: "send-gsm7", name: "gsm7", type: "checkbox" });
  const button = h("button", { type: "submit", class: "primary", id: "send-button" }, "Send");
  const recipientsNote = h("span", { class: "muted", id: "send-to-count" });
  const trackerList = h("ol", { class: "tracker", "aria-label": "Messages sent from this page" });
  const trackerCard = h(
    "section",
    { class: "card tracker-card", "aria-labelledby": "tracker-title" },
    h("h2", { id: "tracker-title", class: "section-title" }, "Status"),
    h("p", { class: "muted tracker-empty" }, "Messages you send appear here and move through queued → sending → sent → delivered as the network answers."),
    trackerList,
  );

  const form = h(
    "form",
    { class: "card send-form", "aria-labelledby": "send-title", novalidate: true, onsubmit: (e) => submit(e) },
    h("div", { class: "field" }, h("label", { for: "send-to" }, "To"), to, h("p", { class: "hint", id: "send-to-help" }, "One number or several, separated by commas or new lines. ", recipientsNote)),
    h("div", { class: "field" }, h("label", { for: "send-text" }, "Message"), text, parts, counter, serverCheck),
    h(
      "div",
      { class: "row" },
      h("div", { class: "field" }, h("label", { for: "send-sim" }, "SIM"), sim),
      h("div", { class: "field" }, h("label", { for: "send-at" }, "Send at (optional)"), when),
    ),
    h("label", { class: "check" }, gsmOnly, h("span", null, "GSM-7 only (for devices that reject UCS-2)")),
    h("div", { class: "actions" }, button),
  );
  fill(root, h("div", { class: "page-head" }, h("h1", { id: "send-title" }, "Send an SMS")), h("div", { class: "send-layout" }, form, trackerCard));

  const encoding = () => (gsmOnly.checked ? "gsm7" : "auto");

  function updateCounter() {
    const plan = planSms(text.value, encoding());
    form.dataset.encoding = plan.encoding;
    form.dataset.parts = String(plan.parts);
    if (!text.value) {
      fill(counter, h("span", { class: "muted" }, "GSM-7: 160 characters in one SMS, 153 per part when longer. Other characters switch to UCS-2: 70, then 67."));
      fill(parts);
      return;
    }
    const bad = plan.bad.length
      ? h("span", { class: "bad-chars" }, `Not in GSM-7: ${plan.bad.join(" ")}`)
      : null;
    fill(
      counter,
      h("span", { class: `enc enc-${plan.encoding}`, id: "count-encoding" }, encodingLabel(plan.encoding)),
      h("span", { id: "count-left" }, `${plan.left} characters left`),
      h("span", { id: "count-parts" }, plural(plan.parts, "part")),
      plan.encoding === "ucs2" ? h("span", { class: "muted" }, "because of ", h("q", null, firstNonGsm(text.value))) : null,
      bad,
    );
    fill(
      parts,
      plan.segments.map((segment, i) => {
        const full = i < plan.parts - 1 ? 100 : Math.round(((plan.perPart - plan.left) / plan.perPart) * 100);
        const bar = h("span", { class: "part-fill" });
        bar.style.width = `${Math.max(4, full)}%`;
        return h("span", { class: "part", title: `part ${i + 1}: ${[...segment].length} characters` }, bar);
      }),
    );
  }

  let checkGeneration = 0;
  const dryRun = debounce(async () => {
    const mine = ++checkGeneration;
    const recipients = parseRecipients(to.value);
    if (!text.value || !recipients.length || !recipients.every(looksLikeNumber)) {
      fill(serverCheck);
      delete serverCheck.dataset.agree;
      return;
    }
    const plan = planSms(text.value, encoding());
    try {
      const body = { to: recipients, text: text.value, encoding: encoding(), dry_run: true };
      if (sim.value) body.sim = sim.value;
      const result = await post("/api/v1/messages", body);
      if (mine !== checkGeneration) return;
      const agree = result.parts === plan.parts && result.encoding === plan.encoding;
      serverCheck.dataset.agree = String(agree);
      serverCheck.dataset.parts = String(result.parts);
      serverCheck.dataset.encoding = result.encoding;
      fill(
        serverCheck,
        h("span", { class: agree ? "ok" : "warn" }, agree ? "✓ " : "! "),
        `Relay: ${plural(result.parts, "part")}, ${encodingLabel(result.encoding)}`,
        result.sim ? `, via ${simLabel(result.sim, ctx.sims)}` : ", no SIM online now: it will wait in the queue",
      );
    } catch (err) {
      if (mine !== checkGeneration) return;
      delete serverCheck.dataset.agree;
      fill(serverCheck, h("span", { class: "warn" }, "! "), err instanceof ApiError ? err.message : String(err));
    }
  }, 300);

  function updateRecipients() {
    const n = parseRecipients(to.value).length;
    fill(recipientsNote, n > 1 ? `${n} recipients: one message each.` : "");
  }

  for (const input of [to, text]) input.addEventListener("input", () => {
    updateCounter();
    updateRecipients();
    dryRun();
  });
  for (const input of [sim, gsmOnly]) input.addEventListener("change", () => {
    updateCounter();
    dryRun();
  });
  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  async function submit(event) {
    event.preventDefault();
    const recipients = parseRecipients(to.value);
    if (!recipients.length) {
      toast("Add at least one recipient.", "bad");
      to.focus();
      return;
    }
    if (!text.value) {
      toast("Write a message first.", "bad");
      text.focus();
      return;
    }
    const body = { to: recipients.length === 1 ? recipients[0] : recipients, text: text.value, source: "web-ui", encoding: encoding() };
    if (sim.value) body.sim = sim.value;
    if (when.value) body.send_at = new Date(when.value).toISOString();
    button.disabled = true;
    try {
      const result = await post("/api/v1/messages", body);
      const accepted = result.messages || [result];
      toast(accepted.length > 1 ? `${accepted.length} messages accepted` : "Message accepted", "ok");
      text.value = "";
      updateCounter();
      fill(serverCheck);
      for (const item of accepted.reverse()) {
        track({ id: item.id, peer: item.to, text: body.text, status: item.status, parts: item.parts, encoding: item.encoding, history: [] });
        get(`/api/v1/messages/${item.id}`).then((m) => track(m), () => {});
      }
    } catch (err) {
      toast(err instanceof ApiError ? err.message : String(err), "bad");
      if (err instanceof ApiError && err.field === "text") text.focus();
      else if (err instanceof ApiError && err.field === "to") to.focus();
    } finally {
      button.disabled = false;
    }
  }

  function track(m, at) {
    const known = tracked.get(m.id);
    if (known && !isNewerState(known.message.status, m.status)) return;
    const history = [...(m.history && m.history.length ? m.history : known?.message.history || [])];
    if (at && !history.some((step) => step.status === m.status)) history.push({ status: m.status, at, error: m.error });
    const merged = { ...(known?.message || {}), ...m, history };
    const node = trackerItem(merged);
    if (known) known.node.replaceWith(node);
    else trackerList.prepend(node);
    tracked.set(m.id, { message: merged, node });
    trackerCard.querySelector(".tracker-empty")?.remove();
  }

  function trackerItem(m) {
    const reached = new Map((m.history || []).map((step) => [step.status, step]));
    reached.set(m.status, reached.get(m.status) || { status: m.status });
    const ended = END_STATES.includes(m.status);
    const position = OUT_STATES.indexOf(m.status);
    const steps = OUT_STATES.map((state, i) => {
      const step = reached.get(state);
      const done = step || (!ended && i <= position);
      return h(
        "li",
        { class: ["step", done && "done", state === m.status && "current"], dataset: { state } },
        h("span", { class: "step-dot", "aria-hidden": "true" }),
        h("span", { class: "step-name" }, state),
        step && step.at ? h("time", { datetime: step.at, title: fullTime(step.at) }, shortTime(step.at)) : null,
      );
    });
    if (ended) {
      steps.push(h("li", { class: "step done current bad", dataset: { state: m.status } }, h("span", { class: "step-dot", "aria-hidden": "true" }), h("span", { class: "step-name" }, m.status)));
    }
    const cancel =
      m.status === "queued"
        ? h(
            "button",
            {
              type: "button",
              class: "ghost small",
              onclick: async () => {
                try {
                  track(await del(`/api/v1/messages/${m.id}`).then(() => get(`/api/v1/messages/${m.id}`)));
                } catch (err) {
                  toast(err.message, "bad");
                }
              },
            },
            "Cancel",
          )
        : null;
    return h(
      "li",
      { class: "tracked", dataset: { id: m.id, status: m.status } },
      h(
        "div",
        { class: "tracked-head" },
        h("span", { class: "tracked-peer" }, m.peer),
        statusBadge(m.status, m.error),
        cancel,
      ),
      h("p", { class: "tracked-text" }, m.text),
      h("ol", { class: "steps", "aria-label": `State of message ${m.id}: ${m.status}` }, steps),
      m.error ? h("p", { class: "error" }, m.error) : null,
      h("p", { class: "muted tracked-meta" }, `#${m.id}`, m.sim ? ` · via ${simLabel(m.sim, ctx.sims)}` : "", m.parts ? ` · ${plural(m.parts, "part")}, ${encodingLabel(m.encoding)}` : "", m.send_at ? ` · scheduled ${shortTime(m.send_at)}` : ""),
    );
  }

  const off = ctx.on((event) => {
    if (event.type.startsWith("sms.") && event.data && tracked.has(event.data.id)) track(event.data, event.timestamp);
  });

  updateCounter();
  to.focus();
  return () => {
    off();
    dryRun.cancel();
  };
}

function firstNonGsm(value) {
  const plan = planSms(value, "gsm7");
  return plan.bad[0] || "";
}
