// Messages: every message, newest first, filtered; older pages load as you scroll; live.

import { messagesBefore, newestMessageId } from "./api.js";
import { debounce, fill, h } from "./dom.js";
import { ALL_STATES, fullTime, isNewerState, messageTime, shortTime, simLabel } from "./format.js";
import { directionMark, emptyState, errorLine, statusBadge } from "./widgets.js";

const PAGE = 50;

export function mount(root, ctx) {
  const filters = { direction: "", status: "", sim: "", peer: "" };
  const rows = new Map(); // id -> {message, tr}
  const body = h("tbody");
  const table = h(
    "table",
    { class: "messages" },
    h("caption", { class: "sr-only" }, "Messages, newest first"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col", class: "c-time" }, "Time"),
        h("th", { scope: "col", class: "c-dir" }, h("span", { class: "sr-only" }, "Direction")),
        h("th", { scope: "col", class: "c-peer" }, "Peer"),
        h("th", { scope: "col", class: "c-text" }, "Text"),
        h("th", { scope: "col", class: "c-sim" }, "SIM"),
        h("th", { scope: "col", class: "c-status" }, "Status"),
      ),
    ),
    body,
  );
  const footer = h("div", { class: "list-footer", "aria-live": "polite" });
  const sentinel = h("div", { class: "sentinel", "aria-hidden": "true" });
  let cursor = null; // load messages with ids below this; 0: nothing older
  let loading = false;
  let generation = 0;
  let controller = new AbortController();

  const select = (name, label, options) =>
    h(
      "label",
      { class: "field" },
      h("span", null, label),
      h(
        "select",
        {
          name,
          onchange: (e) => {
            filters[name] = e.target.value;
            reload();
          },
        },
        options.map(([value, text]) => h("option", { value }, text)),
      ),
    );
  const peerInput = h("input", {
    type: "search",
    name: "peer",
    inputmode: "tel",
    placeholder: "+15551234567",
    autocomplete: "off",
    oninput: debounce((e) => {
      filters.peer = e.target.value.replace(/[\s()./-]/g, "");
      reload();
    }, 350),
  });
  const simSelect = select("sim", "SIM", [["", "All SIMs"], ...ctx.sims.map((sim) => [sim.id, sim.name])]);
  fill(
    root,
    h("div", { class: "page-head" }, h("h1", null, "Messages")),
    h(
      "form",
      { class: "filters", role: "search", "aria-label": "Filter messages", onsubmit: (e) => e.preventDefault() },
      select("direction", "Direction", [
        ["", "Both"],
        ["in", "Received"],
        ["out", "Sent"],
      ]),
      select("status", "Status", [["", "Any status"], ...ALL_STATES.map((st) => [st, st])]),
      simSelect,
      h("label", { class: "field grow" }, h("span", null, "Peer"), peerInput),
    ),
    h("div", { class: "card table-card" }, table, sentinel, footer),
  );

  function matches(m) {
    return (
      (!filters.direction || m.direction === filters.direction) &&
      (!filters.status || m.status === filters.status) &&
      (!filters.sim || m.sim === filters.sim) &&
      (!filters.peer || m.peer === filters.peer)
    );
  }

  function row(m) {
    const when = messageTime(m);
    return h(
      "tr",
      { dataset: { id: m.id, direction: m.direction } },
      h("td", { class: "c-time", title: fullTime(when) }, h("time", { datetime: when }, shortTime(when))),
      h("td", { class: "c-dir" }, directionMark(m.direction)),
      h("td", { class: "c-peer" }, h("a", { href: `#/conversations/${encodeURIComponent(m.peer)}` }, m.peer)),
      h("td", { class: "c-text" }, h("div", { class: "msg-text" }, m.text)),
      h("td", { class: "c-sim" }, simLabel(m.sim, ctx.sims)),
      h("td", { class: "c-status" }, statusBadge(m.status, m.error)),
    );
  }

  function upsert(m, { live = false } = {}) {
    const known = rows.get(m.id);
    if (known) {
      if (!isNewerState(known.message.status, m.status)) return;
      const merged = { ...known.message, ...m };
      const tr = row(merged);
      known.tr.replaceWith(tr);
      rows.set(m.id, { message: merged, tr });
      return;
    }
    if (!matches(m)) return;
    const tr = row(m);
    if (live) tr.classList.add("fresh");
    // Keep newest first: find the first row with a smaller id.
    let before = null;
    for (const other of body.children) {
      if (Number(other.dataset.id) < m.id) {
        before = other;
        break;
      }
    }
    body.insertBefore(tr, before);
    rows.set(m.id, { message: m, tr });
    renderFooter();
  }

  function renderFooter() {
    if (loading) fill(footer, h("p", { class: "muted" }, "Loading…"));
    else if (!rows.size && cursor === 0) {
      fill(
        footer,
        emptyState(
          Object.values(filters).some(Boolean) ? "No message matches these filters" : "No messages yet",
          Object.values(filters).some(Boolean) ? "" : "Messages sent and received through this relay appear here, live.",
        ),
      );
    } else if (cursor === 0) fill(footer, h("p", { class: "muted end" }, `${rows.size} shown · that's all`));
    else fill(footer, h("button", { type: "button", class: "ghost", onclick: () => loadOlder() }, "Load older"));
  }

  async function loadOlder() {
    if (loading || cursor === 0) return;
    loading = true;
    renderFooter();
    const mine = generation;
    try {
      if (cursor === null) cursor = (await newestMessageId(controller.signal)) + 1;
      const page = await messagesBefore(cursor, PAGE, query(), controller.signal);
      if (mine !== generation) return;
      for (const m of page.messages) upsert(m);
      cursor = page.cursor;
    } catch (err) {
      if (err.name === "AbortError" || mine !== generation) return;
      loading = false;
      fill(footer, errorLine(err));
      return;
    }
    loading = false;
    renderFooter();
    root.dataset.ready = "true";
    if (cursor !== 0 && nearBottom()) loadOlder();
  }

  function nearBottom() {
    return sentinel.getBoundingClientRect().top < window.innerHeight + 400;
  }

  function query() {
    const q = {};
    for (const [name, value] of Object.entries(filters)) if (value) q[name] = value;
    return q;
  }

  function reload() {
    generation += 1;
    controller.abort();
    controller = new AbortController();
    rows.clear();
    body.replaceChildren();
    cursor = null;
    loading = false;
    loadOlder();
  }

  const observer = new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting)) loadOlder();
    },
    { rootMargin: "400px" },
  );
  observer.observe(sentinel);

  const off = ctx.on((event) => {
    if (event.type.startsWith("sms.") && event.data && event.data.id) upsert(event.data, { live: true });
  });

  loadOlder();

  return () => {
    off();
    observer.disconnect();
    controller.abort();
  };
}
