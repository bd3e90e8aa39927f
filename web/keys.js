// API keys (admin): create with scopes, allowlist and rate limit; the secret is shown once;
// revoke.

import { ApiError, del, get, post, session } from "./api.js";
import { confirmDialog, fill, h, toast } from "./dom.js";
import { ago, fullTime, shortTime } from "./format.js";
import { emptyState, errorLine } from "./widgets.js";

const SCOPES = [
  ["send", "Send", "send SMS, cancel queued ones"],
  ["read", "Read", "messages, conversations, SIMs, events"],
  ["phone", "Phone", "connect a phone (/websocket, /webhook): it gets the org's outbound texts"],
  ["admin", "Admin", "keys and every other admin route"],
];

export function mount(root, ctx) {
  const tableBody = h("tbody");
  const listStatus = h("div", { class: "list-footer" });
  const revealed = h("div", { class: "reveal-slot", "aria-live": "polite" });
  const name = h("input", { id: "key-name", name: "name", required: true, maxlength: 100, autocomplete: "off", placeholder: "home-assistant" });
  const scopeBoxes = SCOPES.map(([value]) => h("input", { type: "checkbox", name: "scopes", value, id: `scope-${value}`, checked: value === "send" || value === "read" }));
  const allowlist = h("textarea", { id: "key-allowlist", name: "allowlist", rows: 2, placeholder: "+1555*, +4420*", "aria-describedby": "allowlist-help" });
  const rate = h("input", { id: "key-rate", name: "rate_limit", type: "number", min: "1", step: "1", inputmode: "numeric", placeholder: "no limit" });
  const ignoreOptout = h("input", { type: "checkbox", name: "ignore_optout", id: "key-ignore-optout" });
  const error = h("p", { class: "error", role: "alert" });
  const create = h("button", { type: "submit", class: "primary" }, "Create key");

  const form = h(
    "form",
    { class: "card key-form", "aria-labelledby": "new-key-title", onsubmit: (e) => submit(e) },
    h("h2", { id: "new-key-title", class: "section-title" }, "New key"),
    h("div", { class: "field" }, h("label", { for: "key-name" }, "Name"), name),
    h(
      "fieldset",
      { class: "scopes" },
      h("legend", null, "Scopes"),
      SCOPES.map(([value, label, text], i) =>
        h("label", { class: "check", for: `scope-${value}` }, scopeBoxes[i], h("span", null, h("strong", null, label), h("span", { class: "muted" }, ` — ${text}`))),
      ),
    ),
    h(
      "div",
      { class: "row" },
      h(
        "div",
        { class: "field" },
        h("label", { for: "key-allowlist" }, "Recipient allowlist"),
        allowlist,
        h("p", { class: "hint", id: "allowlist-help" }, "Patterns, comma or line separated. Empty: any number."),
      ),
      h("div", { class: "field" }, h("label", { for: "key-rate" }, "Rate limit (per minute)"), rate),
    ),
    h("label", { class: "check", for: "key-ignore-optout" }, ignoreOptout, h("span", null, h("strong", null, "Ignore opt-out"), h("span", { class: "muted" }, " — may send to numbers that sent STOP (codes, alerts)"))),
    error,
    h("div", { class: "actions" }, create),
  );

  fill(
    root,
    h("div", { class: "page-head" }, h("h1", null, "API keys"), h("p", { class: "muted" }, "Keys for scripts, home automation and agents. A secret is shown once, when it is created.")),
    revealed,
    h(
      "div",
      { class: "keys-layout" },
      h(
        "section",
        { class: "card table-card", "aria-labelledby": "keys-title" },
        h("h2", { id: "keys-title", class: "section-title pad" }, "Keys"),
        h(
          "table",
          { class: "keys" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Name", "Key", "Scopes", "Limits", "Last used", ""].map((t) => h("th", { scope: "col" }, t)),
            ),
          ),
          tableBody,
        ),
        listStatus,
      ),
      form,
    ),
  );

  async function load() {
    try {
      const { keys } = await get("/api/v1/keys");
      const active = keys.filter((k) => !k.revoked);
      const revoked = keys.filter((k) => k.revoked);
      fill(tableBody, [...active, ...revoked].map(keyRow));
      fill(listStatus, keys.length ? null : emptyState("No keys", ""));
      root.dataset.ready = "true";
    } catch (err) {
      fill(listStatus, errorLine(err));
    }
  }

  function keyRow(k) {
    const mine = session.key && session.key.startsWith(k.prefix);
    const limits = [
      k.allowlist.length ? `to ${k.allowlist.join(", ")}` : "any recipient",
      k.rate_limit ? `${k.rate_limit}/min` : null,
      k.ignore_optout ? "ignores opt-out" : null,
    ].filter(Boolean);
    return h(
      "tr",
      { class: k.revoked ? "revoked" : null, dataset: { keyId: k.id, name: k.name } },
      h("td", { "data-label": "Name" }, h("strong", null, k.name), mine ? h("span", { class: "chip" }, "this session") : null, h("div", { class: "muted small", title: fullTime(k.created_at) }, `created ${shortTime(k.created_at)}`)),
      h("td", { "data-label": "Key" }, h("code", null, `${k.prefix}…`)),
      h("td", { "data-label": "Scopes" }, k.scopes.map((scope) => h("span", { class: `chip scope-${scope}` }, scope))),
      h("td", { "data-label": "Limits", class: "small" }, limits.join(" · ")),
      h("td", { "data-label": "Last used", class: "small", title: fullTime(k.last_used_at) }, k.last_used_at ? ago(k.last_used_at) : "never"),
      h(
        "td",
        { class: "cell-actions" },
        k.revoked
          ? h("span", { class: "badge st-cancelled" }, "revoked")
          : h("button", { type: "button", class: "danger small", "aria-label": `Revoke ${k.name}`, onclick: () => revoke(k, mine) }, "Revoke"),
      ),
    );
  }

  async function revoke(k, mine) {
    const warning = mine
      ? "This is the key this browser is signed in with: you will be signed out."
      : "Anything using it will get 401 from now on. This can't be undone.";
    if (!(await confirmDialog(`Revoke “${k.name}”?`, warning, "Revoke"))) return;
    try {
      await del(`/api/v1/keys/${k.id}`);
      toast(`Key “${k.name}” revoked`, "ok");
      if (mine) {
        session.key = null;
        location.reload();
        return;
      }
      load();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function submit(event) {
    event.preventDefault();
    fill(error);
    const scopes = scopeBoxes.filter((b) => b.checked).map((b) => b.value);
    if (!name.value.trim()) {
      fill(error, "Give the key a name.");
      name.focus();
      return;
    }
    if (!scopes.length) {
      fill(error, "Pick at least one scope.");
      scopeBoxes[0].focus();
      return;
    }
    const body = {
      name: name.value.trim(),
      scopes,
      allowlist: allowlist.value.split(/[,\s]+/).filter(Boolean),
    };
    if (rate.value) body.rate_limit = Number(rate.value);
    if (ignoreOptout.checked) body.ignore_optout = true;
    create.disabled = true;
    try {
      const created = await post("/api/v1/keys", body);
      form.reset();
      scopeBoxes.forEach((b) => (b.checked = b.value !== "admin"));
      reveal(created);
      load();
    } catch (err) {
      fill(error, err instanceof ApiError ? err.message : String(err));
    } finally {
      create.disabled = false;
    }
  }

  function reveal(created) {
    const secret = h("code", { class: "secret", id: "new-key-secret", tabindex: "0" }, created.key);
    const copy = h(
      "button",
      {
        type: "button",
        class: "primary",
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(created.key);
            toast("Copied", "ok");
          } catch {
            // No clipboard outside a secure context (plain http on the LAN): select instead.
            getSelection().selectAllChildren(secret);
            toast("Selected: press Ctrl+C to copy");
          }
        },
      },
      "Copy",
    );
    const done = h("button", { type: "button", class: "ghost", onclick: () => fill(revealed) }, "Done");
    fill(
      revealed,
      h(
        "div",
        { class: "card reveal", role: "alert" },
        h("h2", { class: "section-title" }, `Key “${created.info.name}” created`),
        h("p", null, "Copy it now: it is shown this once and can't be seen again."),
        h("div", { class: "secret-row" }, secret, copy, done),
      ),
    );
    copy.focus();
  }

  load();
  return () => fill(revealed);
}
