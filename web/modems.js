// Modem tools (admin): a USSD console per modem (balance, bundles…) and a ring-call alert.

import { ApiError, post } from "./api.js";
import { fill, h } from "./dom.js";
import { shortTime } from "./format.js";
import { emptyState } from "./widgets.js";

export function mount(root, ctx) {
  const grid = h("div", { class: "tools-grid" });
  fill(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Modem tools"),
      h("p", { class: "muted" }, "Ask the network with USSD codes, or ring a number as an alert (it hangs up by itself)."),
    ),
    grid,
  );

  function render() {
    const modems = ctx.sims.filter((sim) => sim.kind === "modem");
    if (!modems.length) {
      fill(grid, emptyState("No modem", "USSD and calls go through USB modems; none is connected."));
      return;
    }
    fill(grid, modems.map(modemCard));
  }

  function modemCard(sim) {
    const idBase = `m-${sim.id.replace(/[^a-z0-9]/gi, "-")}`;
    const log = h("ol", { class: "ussd-log", "aria-live": "polite", "aria-label": `USSD answers from ${sim.name}` });
    const code = h("input", { id: `${idBase}-code`, name: "code", inputmode: "tel", autocomplete: "off", placeholder: "*100#", required: true, pattern: "[0-9*#+]{2,40}" });
    const ussdButton = h("button", { type: "submit", class: "primary" }, "Send code");
    const ussd = h(
      "form",
      {
        class: "ussd",
        onsubmit: async (e) => {
          e.preventDefault();
          const value = code.value.trim();
          if (!value) return;
          ussdButton.disabled = true;
          const entry = h("li", { class: "pending" }, h("span", { class: "ussd-code" }, value), h("span", { class: "muted" }, "asking the network…"));
          log.prepend(entry);
          try {
            const result = await post("/api/v1/ussd", { sim: sim.id, code: value });
            fill(entry, h("span", { class: "ussd-code" }, `${value} · ${shortTime(new Date().toISOString())}`), h("pre", { class: "ussd-answer" }, result.answer));
            entry.className = "answered";
          } catch (err) {
            fill(entry, h("span", { class: "ussd-code" }, value), h("span", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
            entry.className = "failed";
          } finally {
            ussdButton.disabled = false;
          }
        },
      },
      h("label", { for: `${idBase}-code` }, "USSD code"),
      h("div", { class: "inline" }, code, ussdButton),
    );

    const to = h("input", { id: `${idBase}-to`, name: "to", inputmode: "tel", autocomplete: "off", placeholder: "+15551234567", required: true });
    const seconds = h("input", { id: `${idBase}-ring`, name: "ring_seconds", type: "number", min: "1", max: "120", value: "20" });
    const callButton = h("button", { type: "submit", class: "primary" }, "Ring");
    const callResult = h("p", { class: "call-result", "aria-live": "polite" });
    const call = h(
      "form",
      {
        class: "call",
        onsubmit: async (e) => {
          e.preventDefault();
          if (!to.value.trim()) return;
          callButton.disabled = true;
          fill(callResult, h("span", { class: "muted" }, `Ringing ${to.value.trim()}…`));
          try {
            const result = await post("/api/v1/calls", { sim: sim.id, to: to.value.trim(), ring_seconds: Number(seconds.value) || 20 });
            fill(callResult, `Call to ${result.to}: ${result.result}`);
          } catch (err) {
            fill(callResult, h("span", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
          } finally {
            callButton.disabled = false;
          }
        },
      },
      h("div", { class: "call-row" }, h("div", { class: "field" }, h("label", { for: `${idBase}-to` }, "Ring number"), to), h("div", { class: "field" }, h("label", { for: `${idBase}-ring` }, "Seconds"), seconds)),
      h("div", { class: "actions" }, callButton),
      callResult,
    );
    return h(
      "article",
      { class: "card tool", "aria-label": `Modem ${sim.name}`, dataset: { sim: sim.id } },
      h(
        "header",
        { class: "sim-head" },
        h("div", null, h("h2", { class: "sim-name" }, sim.name), h("span", { class: "sim-kind" }, sim.number || "number unknown")),
        h("span", { class: ["state", sim.online ? "on" : "off"] }, h("span", { class: "dot", "aria-hidden": "true" }), sim.online ? "Online" : "Offline"),
      ),
      ctx.has("POST /api/v1/ussd") ? [ussd, log] : null,
      ctx.has("POST /api/v1/calls") ? [h("hr"), call] : null,
    );
  }

  // Rebuild only when the set of modems changes, so typing in a form is never interrupted.
  let shape = "";
  const refresh = () => {
    const next = ctx.sims.filter((s) => s.kind === "modem").map((s) => `${s.id}:${s.online}`).join(",");
    if (next !== shape) {
      shape = next;
      render();
    }
  };
  const off = ctx.on((event) => {
    if (event.type === "sim.online" || event.type === "sim.offline") refresh();
  });
  ctx.refreshSims().then(refresh, () => refresh());
  return () => off();
}
