// Phones (admin): pair an Android phone with a QR code of its WebSocket link, list phones
// with their SIM slots, unpair.

import { ApiError, del, get, post } from "./api.js";
import { confirmDialog, debounce, fill, h, toast } from "./dom.js";
import { ago, fullTime } from "./format.js";
import { qrSvg } from "./qr.js";
import { emptyState, errorLine } from "./widgets.js";

export function mount(root, ctx) {
  const list = h("div", { class: "phone-list" });
  const revealed = h("div", { class: "reveal-slot", "aria-live": "polite" });
  const name = h("input", { id: "phone-name", name: "name", required: true, maxlength: 64, autocomplete: "off", placeholder: "kitchen-pixel" });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, "Pair");
  const local = /^(localhost|127\.|\[::1\])/.test(location.hostname);

  fill(
    root,
    h(
      "div",
      { class: "page-head" },
      h("h1", null, "Phones"),
      h("p", { class: "muted" }, "An Android phone with the SMS gateway app adds its SIMs to this relay over WebSocket."),
    ),
    revealed,
    h(
      "div",
      { class: "keys-layout" },
      h("section", { "aria-labelledby": "phones-title" }, h("h2", { id: "phones-title", class: "section-title" }, "Paired phones"), list),
      h(
        "form",
        { class: "card key-form", "aria-labelledby": "pair-title", onsubmit: (e) => pair(e) },
        h("h2", { id: "pair-title", class: "section-title" }, "Pair a phone"),
        h("div", { class: "field" }, h("label", { for: "phone-name" }, "Name"), name),
        h("p", { class: "hint" }, "You get a QR code to scan with the app; it holds this relay's address and the phone's own token."),
        local
          ? h("p", { class: "warn-note" }, `This page is open on ${location.hostname}, which a phone can't reach: open it with the relay's LAN address (e.g. http://relay.local:${location.port || 80}/) before pairing.`)
          : null,
        error,
        h("div", { class: "actions" }, button),
      ),
    ),
  );

  async function load() {
    try {
      const { phones } = await get("/api/v1/phones");
      fill(list, phones.length ? phones.map(phoneCard) : h("div", { class: "card" }, emptyState("No phone paired yet", "Pair one with the form: scan its QR code in the app.")));
      root.dataset.ready = "true";
    } catch (err) {
      fill(list, errorLine(err));
    }
  }

  function phoneCard(phone) {
    const seen = phone.online ? phone.connected_since : phone.last_seen_at;
    return h(
      "article",
      { class: "card phone", dataset: { phone: phone.id }, "aria-label": `Phone ${phone.name}` },
      h(
        "header",
        { class: "sim-head" },
        h("div", null, h("h3", { class: "sim-name" }, phone.name), h("span", { class: "sim-kind" }, phone.kind === "android-sms-gateway" ? "SMS Gateway app" : phone.token_prefix ? `token ${phone.token_prefix}…` : "org secret")),
        h("span", { class: ["state", phone.online ? "on" : "off"] }, h("span", { class: "dot", "aria-hidden": "true" }), phone.online ? "Online" : "Offline"),
      ),
      h("p", { class: "muted small", title: fullTime(seen) }, seen ? `${phone.online ? "Connected" : "Last seen"} ${ago(seen)}` : "Never connected"),
      phone.sims.length
        ? h(
            "ul",
            { class: "slots" },
            phone.sims.map((sim) =>
              h("li", null, h("span", { class: "chip" }, sim.slot === null ? "default SIM" : `slot ${sim.slot}`), h("span", { class: "mono" }, sim.number || "number unknown"), sim.carrier ? h("span", { class: "muted" }, sim.carrier) : null),
            ),
          )
        : null,
      h("div", { class: "actions" }, h("button", { type: "button", class: "danger small", "aria-label": `Unpair ${phone.name}`, onclick: () => unpair(phone) }, "Unpair")),
    );
  }

  async function unpair(phone) {
    const ok = await confirmDialog(`Unpair “${phone.name}”?`, "Its token stops working at once and its SIMs leave this relay.", "Unpair");
    if (!ok) return;
    try {
      await del(`/api/v1/phones/${encodeURIComponent(phone.id)}`);
      toast(`“${phone.name}” unpaired`, "ok");
      load();
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  async function pair(event) {
    event.preventDefault();
    fill(error);
    if (!name.value.trim()) {
      fill(error, "Give the phone a name.");
      name.focus();
      return;
    }
    button.disabled = true;
    try {
      const created = await post("/api/v1/phones", { name: name.value.trim() });
      name.value = "";
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
        { class: "card reveal pairing", role: "alert" },
        h("div", { class: "qr-box" }, qrSvg(created.ws_url, { label: "QR code of the pairing link" })),
        h(
          "div",
          { class: "pairing-text" },
          h("h2", { class: "section-title" }, `Scan this with “${created.phone ? created.phone.name : "the phone"}”`),
          h("p", null, "In the app, scan the code, or enter the link by hand. It holds the phone's token: it is shown this once."),
          h("code", { class: "secret", id: "pair-url" }, created.ws_url),
          h("div", { class: "actions" }, done),
        ),
      ),
    );
    done.focus();
  }

  const reload = debounce(load, 300);
  const off = ctx.on((event) => {
    if (event.type.startsWith("sim.") && event.data && event.data.kind === "phone") reload();
  });
  load();
  return () => {
    off();
    reload.cancel();
    fill(revealed);
  };
}
