// SIM care on a dashboard SIM card: the balance (and when it was checked), the expiry, and a
// "Check balance" button (POST /api/v1/sims/{id}/balance, the SIM's own USSD code).

import { ApiError, post } from "./api.js";
import { fill, h } from "./dom.js";
import { ago, fullTime, shortTime } from "./format.js";

const DAY = 86400 * 1000;

export function careBlock(sim, ctx) {
  const care = sim.care || {};
  const canCheck = Boolean(care.balance_ussd) && ctx.has("POST /api/v1/sims/{id}/balance");
  if (!sim.balance && !sim.expires_at && !canCheck) return null;
  const balance = h("p", { class: "sim-balance" }, balanceText(sim.balance));
  const checked = h("p", { class: "sim-balance-checked muted" }, checkedText(sim.balance));
  const button = canCheck
    ? h(
        "button",
        {
          type: "button",
          class: "ghost small check-balance",
          onclick: async () => {
            button.disabled = true;
            fill(checked, "asking the network…");
            try {
              const entry = await post(`/api/v1/sims/${encodeURIComponent(sim.id)}/balance`, {});
              const shown = entry.amount === null ? null : { amount: entry.amount, currency: entry.currency, checked_at: entry.at };
              fill(balance, shown ? balanceText(shown) : entry.error || "No amount in the answer");
              fill(checked, shown ? checkedText(shown) : entry.answer || "");
              ctx.refreshSims().catch(() => {});
            } catch (err) {
              fill(checked, h("span", { class: "error" }, err instanceof ApiError ? err.message : String(err)));
            } finally {
              button.disabled = false;
            }
          },
        },
        "Check balance",
      )
    : null;
  return h(
    "div",
    { class: "sim-care" },
    h("div", { class: "sim-care-row" }, h("div", null, balance, checked), button),
    sim.expires_at ? expiryLine(sim.expires_at) : null,
  );
}

function balanceText(balance) {
  if (!balance || balance.amount === null || balance.amount === undefined) return "Balance not checked yet";
  const amount = Number(balance.amount).toFixed(2);
  return `Balance ${amount}${balance.currency ? ` ${balance.currency}` : ""}`;
}

function checkedText(balance) {
  return balance && balance.checked_at ? `checked ${shortTime(balance.checked_at)} (${ago(balance.checked_at)})` : "";
}

function expiryLine(expiresAt) {
  const days = Math.floor((new Date(expiresAt).getTime() - Date.now()) / DAY);
  const soon = days < 7;
  const when = days < 0 ? "expired" : days === 0 ? "expires today" : `expires in ${days} day${days === 1 ? "" : "s"}`;
  return h(
    "p",
    { class: ["sim-expiry", soon ? "warn" : "muted"], title: fullTime(expiresAt) },
    `SIM ${when} (${shortTime(expiresAt)})`,
  );
}
