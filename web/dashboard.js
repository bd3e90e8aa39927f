// Dashboard: every SIM as a card, today's counts and messages per hour, kept live by events.

import { messagesBefore, newestMessageId } from "./api.js";
import { debounce, fill, h } from "./dom.js";
import { ago, fullTime, isNewerState, plural, shortTime, startOfToday } from "./format.js";
import { careBlock } from "./simcare.js";
import { emptyState, errorLine, signalBars, sparkline } from "./widgets.js";

const HOURS = 24;
const MAX_LOAD = 5000; // messages read back at most to count today and the last 24 h

export function mount(root, ctx) {
  const recent = new Map(); // id -> message, since the start of today or 24 h ago
  const offlineSince = new Map(); // sim id -> ISO time we saw it go offline
  const stats = h("section", { class: "stats", "aria-label": "Today" });
  const chart = h("div", { class: "card chart-card" });
  const simGrid = h("div", { class: "sim-grid" });
  const status = h("div", { class: "load-status" }, h("p", { class: "muted" }, "Loading…"));
  const sub = h("p", { class: "muted", id: "dash-sub" });
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Dashboard"), sub),
    status,
    stats,
    h(
      "div",
      { class: "dash-grid" },
      h("section", { "aria-labelledby": "sims-title" }, h("h2", { id: "sims-title", class: "section-title" }, "SIMs"), simGrid),
      h("section", { "aria-labelledby": "chart-title" }, h("h2", { id: "chart-title", class: "section-title" }, "Messages per hour, last 24 h"), chart),
    ),
  );
  const controller = new AbortController();
  let loaded = false;
  let gone = false; // unmounted: a late answer or timer must not render into another page

  const cutoff = () => Math.min(startOfToday().getTime(), hourStart(Date.now()) - (HOURS - 1) * 3600e3);

  function render() {
    if (!loaded || gone) return;
    const today = startOfToday().getTime();
    const perSim = new Map();
    const totals = { sent: 0, received: 0, failed: 0, delivered: 0 };
    const hoursIn = new Array(HOURS).fill(0);
    const hoursOut = new Array(HOURS).fill(0);
    const firstHour = hourStart(Date.now()) - (HOURS - 1) * 3600e3;
    for (const m of recent.values()) {
      const created = Date.parse(m.created_at);
      const bucket = Math.floor((created - firstHour) / 3600e3);
      if (bucket >= 0 && bucket < HOURS) (m.direction === "in" ? hoursIn : hoursOut)[bucket] += 1;
      const counts = perSim.get(m.sim) || { sent: 0, received: 0 };
      perSim.set(m.sim, counts);
      if (m.direction === "in") {
        if (created >= today) {
          totals.received += 1;
          counts.received += 1;
        }
      } else if (m.sent_at && Date.parse(m.sent_at) >= today) {
        totals.sent += 1;
        counts.sent += 1;
        if (m.status === "delivered") totals.delivered += 1;
      } else if (m.status === "failed" && created >= today) {
        totals.failed += 1;
      }
    }
    const online = ctx.sims.filter((sim) => sim.online).length;
    fill(
      sub,
      ctx.sims.length ? `${online} of ${plural(ctx.sims.length, "SIM")} online` : "No SIMs yet",
    );
    fill(
      stats,
      tile("SIMs online", `${online}/${ctx.sims.length}`, online ? "ok" : "warn"),
      tile("Queued", ctx.queued ?? 0, ctx.queued ? "busy" : ""),
      tile("Sent today", totals.sent, "", totals.sent ? `${totals.delivered} delivered` : ""),
      tile("Received today", totals.received),
      tile("Failed today", totals.failed, totals.failed ? "bad" : ""),
    );
    fill(
      simGrid,
      ctx.sims.length
        ? ctx.sims.map((sim) => simCard(sim, perSim.get(sim.id) || { sent: 0, received: 0 }, offlineSince.get(sim.id), ctx))
        : emptyState(
            "No SIM is connected",
            "Plug in a USB GSM modem (or start relayd with --demo), or pair an Android phone.",
          ),
    );
    const hourLabel = (i) => new Date(firstHour + i * 3600e3).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const sumIn = hoursIn.reduce((a, b) => a + b, 0);
    const sumOut = hoursOut.reduce((a, b) => a + b, 0);
    fill(
      chart,
      h(
        "div",
        { class: "chart-head" },
        h(
          "div",
          { class: "legend" },
          h("span", { class: "key out" }, `Sent ${sumOut}`),
          h("span", { class: "key in" }, `Received ${sumIn}`),
          h("span", { class: "peak" }, `peak ${Math.max(0, ...hoursIn, ...hoursOut)}/h`),
        ),
      ),
      sparkline(
        [
          { values: hoursOut, class: "out" },
          { values: hoursIn, class: "in" },
        ],
        {
          label: `Messages per hour over the last 24 hours: ${sumOut} sent, ${sumIn} received`,
          ticks: [hourLabel(0), hourLabel(6), hourLabel(12), hourLabel(18), "now"],
        },
      ),
    );
  }

  const refreshSims = debounce(() => ctx.refreshSims().then(render, () => {}), 400);

  const off = ctx.on((event) => {
    if (event.type.startsWith("sim.")) {
      if (event.type === "sim.offline") offlineSince.set(event.data.id, event.timestamp);
      if (event.type === "sim.online") offlineSince.delete(event.data.id);
      render();
      refreshSims(); // a SIM may also have come or gone (a phone paired or unpaired)
      return;
    }
    if (!event.type.startsWith("sms.") || !event.data || !event.data.id) return;
    const message = event.data;
    const known = recent.get(message.id);
    if (!known || isNewerState(known.status, message.status)) recent.set(message.id, { ...known, ...message });
    render();
    refreshSims(); // queue depths and the queued total
  });

  const timer = setInterval(render, 60000);

  (async () => {
    try {
      await ctx.refreshSims();
      let cursor = (await newestMessageId(controller.signal)) + 1;
      const limit = cutoff();
      while (cursor > 1 && recent.size < MAX_LOAD) {
        const page = await messagesBefore(cursor, 500, {}, controller.signal);
        for (const m of page.messages) {
          if (!recent.has(m.id)) recent.set(m.id, m);
        }
        cursor = page.cursor;
        const oldest = page.messages[page.messages.length - 1];
        if (!oldest || Date.parse(oldest.created_at) < limit) break;
      }
      loaded = true;
      status.remove();
      render();
      root.dataset.ready = "true";
    } catch (err) {
      if (err.name !== "AbortError") fill(status, errorLine(err));
    }
  })();

  return () => {
    gone = true;
    off();
    refreshSims.cancel();
    controller.abort();
    clearInterval(timer);
  };
}

function hourStart(ms) {
  return Math.floor(ms / 3600e3) * 3600e3;
}

function tile(label, value, tone = "", note = "") {
  return h(
    "div",
    { class: ["tile", tone && `tone-${tone}`] },
    h("span", { class: "tile-label" }, label),
    h("span", { class: "tile-value" }, String(value)),
    note ? h("span", { class: "tile-note" }, note) : null,
  );
}

function simCard(sim, counts, offlineAt, ctx) {
  const registration = !sim.online
    ? null
    : sim.roaming
      ? h("span", { class: "chip warn" }, "Roaming")
      : sim.registered
        ? h("span", { class: "chip" }, "Registered")
        : h("span", { class: "chip bad" }, "Not registered");
  const since = sim.online ? sim.online_since : offlineAt;
  const signalText =
    sim.signal === null || sim.signal === undefined
      ? "No signal reading"
      : `${sim.signal}%${sim.signal_dbm !== null && sim.signal_dbm !== undefined ? ` · ${sim.signal_dbm} dBm` : ""}`;
  return h(
    "article",
    {
      class: ["card", "sim", sim.online ? "online" : "offline"],
      "aria-label": `SIM ${sim.name}`,
      dataset: { sim: sim.id },
    },
    h(
      "header",
      { class: "sim-head" },
      h("div", null, h("h3", { class: "sim-name" }, sim.name), h("span", { class: "sim-kind" }, sim.kind === "phone" ? `phone${sim.slot !== null && sim.slot !== undefined ? ` · slot ${sim.slot}` : ""}` : "modem")),
      h("span", { class: ["state", sim.online ? "on" : "off"] }, h("span", { class: "dot", "aria-hidden": "true" }), sim.online ? "Online" : "Offline"),
    ),
    h("p", { class: "sim-number" }, sim.number || "number unknown"),
    h("p", { class: "sim-operator" }, h("span", null, sim.operator || "No operator"), registration),
    h("div", { class: "sim-signal" }, signalBars(sim.signal, sim.online), h("span", { class: "signal-text" }, signalText)),
    h(
      "p",
      { class: "sim-since muted", title: fullTime(since) },
      since ? `${sim.online ? "Online" : "Offline"} since ${shortTime(since)} (${ago(since)})` : sim.online ? "" : "Offline",
    ),
    sim.state_detail ? h("p", { class: "sim-detail" }, sim.state_detail) : null,
    healthLine(sim.health),
    capsList(sim.caps),
    h(
      "dl",
      { class: "sim-counts" },
      h("div", null, h("dt", null, "Queue"), h("dd", { class: "queue-depth" }, String(sim.queue_depth ?? 0))),
      h("div", null, h("dt", null, "Sent today"), h("dd", { class: "sent-today" }, String(counts.sent))),
      h("div", null, h("dt", null, "Received today"), h("dd", { class: "received-today" }, String(counts.received))),
    ),
    careBlock(sim, ctx), // balance, expiry, "Check balance" (web/simcare.js)
  );
}

/** Quarantine (health-based routing): why the SIM takes no sends, and until when. */
function healthLine(health) {
  if (!health || health.state === "ok") return null;
  const text =
    health.state === "probing"
      ? `Quarantined after ${plural(health.failures, "failed send")}: one probe send is out`
      : `Quarantined after ${plural(health.failures, "failed send")}, until ${shortTime(health.until)}`;
  return h("p", { class: "sim-health", dataset: { state: health.state }, title: fullTime(health.until) }, text);
}

/** Send caps: used of the limit today and this month (only the caps the SIM has). */
function capsList(caps) {
  if (!caps) return null;
  const rows = [
    ["daily", "Cap today", caps.daily],
    ["monthly", "Cap this month", caps.monthly],
  ].filter(([, , cap]) => cap && cap.limit !== null && cap.limit !== undefined);
  if (!rows.length) return null;
  return h(
    "dl",
    { class: "sim-caps" },
    rows.map(([name, label, cap]) =>
      h(
        "div",
        { class: ["cap", `cap-${name}`, cap.used >= cap.limit && "full"] },
        h("dt", null, label),
        h("dd", null, `${cap.used} / ${cap.limit}`),
      ),
    ),
  );
}
