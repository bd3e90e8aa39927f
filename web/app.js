// The shell: sign-in, navigation, the live event stream, and which page is on screen.

import { ApiError, EventStream, get, session, whenUnauthorized } from "./api.js";
import { $, fill, h, toast } from "./dom.js";
import * as contacts from "./contacts.js";
import * as conversations from "./conversations.js";
import * as dashboard from "./dashboard.js";
import * as keys from "./keys.js";
import * as messages from "./messages.js";
import * as modems from "./modems.js";
import * as optouts from "./optouts.js";
import * as phones from "./phones.js";
import * as schedules from "./schedules.js";
import * as send from "./send.js";
import * as templates from "./templates.js";
import * as webhooks from "./webhooks.js";

// Pages in menu order. `needs`: routes that must exist (GET /api/openapi.json) for the page
// to be offered; `admin`: only for keys with the admin scope.
const PAGES = [
  { path: "dashboard", title: "Dashboard", module: dashboard },
  { path: "messages", title: "Messages", module: messages },
  { path: "conversations", title: "Conversations", module: conversations },
  { path: "send", title: "Send", module: send },
  { path: "templates", title: "Templates", module: templates, needs: ["GET /api/v1/templates"] },
  { path: "contacts", title: "Contacts", module: contacts, needs: ["GET /api/v1/contacts", "GET /api/v1/groups"] },
  { path: "schedules", title: "Schedules", module: schedules, needs: ["GET /api/v1/schedules"] },
  { path: "optouts", title: "Opt-outs", module: optouts, needs: ["GET /api/v1/optouts"] },
  { path: "keys", title: "API keys", module: keys, admin: true, needs: ["POST /api/v1/keys"] },
  { path: "webhooks", title: "Webhooks", module: webhooks, admin: true, needs: ["GET /api/v1/webhooks", "POST /api/v1/webhooks"] },
  { path: "phones", title: "Phones", module: phones, admin: true, needs: ["GET /api/v1/phones", "POST /api/v1/phones"] },
  { path: "modems", title: "Modem tools", module: modems, admin: true, needs: ["POST /api/v1/ussd", "POST /api/v1/calls"], any: true },
];

const ctx = {
  sims: [],
  queued: 0,
  admin: false,
  routes: new Set(),
  listeners: new Set(),
  /** Listen to live events; returns the function that stops listening. */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  },
  /** Reload the SIM list (pages call it when they mount). */
  async refreshSims() {
    const data = await get("/api/v1/sims");
    this.sims = data.sims;
    this.queued = data.queued;
    return data;
  },
  has(route) {
    return this.routes.has(route);
  },
};

let stream = null;
let current = null; // {page, unmount, update?}
let signedIn = false;

function emit(event) {
  if (event.type === "notify" && event.data) {
    // channel `notify`: shown to whoever has the UI open (and pushed to the org's phones)
    const { title, text } = event.data;
    toast(title ? `${title}: ${text}` : String(text));
  }
  if (event.type && event.type.startsWith("sim.") && event.data && event.data.id) {
    const index = ctx.sims.findIndex((sim) => sim.id === event.data.id);
    const sim = { ...(ctx.sims[index] || {}), ...event.data };
    if (index >= 0) ctx.sims[index] = sim;
    else ctx.sims.push(sim);
  }
  for (const listener of ctx.listeners) {
    try {
      listener(event);
    } catch (err) {
      console.warn("event listener failed", err);
    }
  }
}

function setLive(state) {
  const live = $("#live");
  const labels = { connecting: "Connecting…", live: "Live", retrying: "Reconnecting…" };
  live.dataset.state = state;
  fill(live, h("span", { class: "dot", "aria-hidden": "true" }), labels[state] || state);
}

function visiblePages() {
  return PAGES.filter((page) => {
    if (page.admin && !ctx.admin) return false;
    if (!page.needs) return true;
    return page.any ? page.needs.some((r) => ctx.has(r)) : page.needs.every((r) => ctx.has(r));
  });
}

function renderNav() {
  fill(
    $("#nav"),
    visiblePages().map((page) => h("a", { href: `#/${page.path}`, dataset: { page: page.path } }, page.title)),
  );
}

function route() {
  if (!signedIn) return;
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, ...rest] = hash.split("/");
  const pages = visiblePages();
  const page = pages.find((p) => p.path === name) || pages[0];
  if (page.path !== name) history.replaceState(null, "", `#/${page.path}`);
  const param = rest.length && rest.join("/") ? decodeURIComponent(rest.join("/")) : null;
  if (current && current.page === page && current.update) {
    current.update(param); // same page, other item (a conversation): keep the page
    return;
  }
  if (current && current.unmount) current.unmount();
  current = null;
  const main = $("#main");
  main.replaceChildren();
  main.dataset.page = page.path;
  delete main.dataset.ready; // pages set it once their first load is done
  for (const link of $("#nav").querySelectorAll("a")) {
    if (link.dataset.page === page.path) {
      link.setAttribute("aria-current", "page");
      link.scrollIntoView({ block: "nearest", inline: "nearest" }); // the phone's scrolling tab strip
    }
    else link.removeAttribute("aria-current");
  }
  document.title = `${page.title} · relayd`;
  const handle = page.module.mount(main, ctx, param);
  current = typeof handle === "function" ? { page, unmount: handle } : { page, ...handle };
}

async function enter() {
  const [, keysProbe, openapi] = await Promise.all([
    ctx.refreshSims(),
    get("/api/v1/keys").then(
      () => true,
      (err) => {
        if (err instanceof ApiError && err.status === 403) return false;
        throw err;
      },
    ),
    get("/api/openapi.json").catch(() => ({ paths: {} })),
  ]);
  ctx.admin = keysProbe;
  ctx.routes = new Set(
    Object.entries(openapi.paths || {}).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    ),
  );
  signedIn = true;
  document.body.classList.add("signed-in");
  $("#topbar").hidden = false;
  renderNav();
  stream = new EventStream({ onEvent: emit, onState: setLive });
  stream.start();
  route();
}

function leave(message) {
  signedIn = false;
  session.key = null;
  if (stream) stream.stop();
  stream = null;
  if (current && current.unmount) current.unmount();
  current = null;
  ctx.sims = [];
  document.body.classList.remove("signed-in");
  $("#topbar").hidden = true;
  showSignIn(message);
}

function explain(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  if (err.status === 401) return "That key is not valid, or it was revoked.";
  if (err.status === 403) return "This key can't read messages: the web UI needs a key with the read scope.";
  if (err.status === 0) return "Cannot reach the relay. Is it running?";
  return err.message;
}

function showSignIn(message) {
  document.title = "Sign in · relayd";
  const input = h("input", {
    id: "key",
    name: "key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "rk_…",
    "aria-describedby": "key-help",
  });
  const error = h("p", { class: "error", id: "signin-error", role: "alert" }, message || "");
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "signin card",
      "aria-labelledby": "signin-title",
      onsubmit: async (event) => {
        event.preventDefault();
        const secret = input.value.trim();
        if (!secret) return;
        button.disabled = true;
        fill(error, "");
        try {
          await get("/api/v1/sims", undefined, { key: secret });
          session.key = secret;
          await enter();
          $("#main").focus(); // the form is gone: keyboard users continue from the page
        } catch (err) {
          session.key = null;
          fill(error, explain(err));
          input.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    h("div", { class: "signin-brand" }, logo(40), h("h1", { id: "signin-title" }, "relayd")),
    h("p", { class: "muted" }, "SMS gateway. Sign in with an API key."),
    h("label", { for: "key" }, "API key"),
    input,
    h(
      "p",
      { class: "hint", id: "key-help" },
      "The admin key is printed when relayd starts for the first time and kept in ",
      h("code", null, "admin.key"),
      " beside the database. It stays in this tab only.",
    ),
    error,
    button,
  );
  const main = $("#main");
  main.dataset.page = "signin";
  fill(main, h("div", { class: "signin-wrap" }, form));
  input.focus();
}

function logo(size = 24) {
  return h("img", { src: new URL("./icon.svg", import.meta.url).href, alt: "", width: size, height: size, class: "logo" });
}

function boot() {
  whenUnauthorized(() => {
    if (signedIn) leave("Your key stopped working (was it revoked?). Sign in again.");
  });
  $("#signout").addEventListener("click", () => leave(""));
  $(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    $("#main").focus();
  });
  window.addEventListener("hashchange", () => {
    route();
    // Keyboard users land on the new page, unless the page already focused its first field.
    if (!$("#main").contains(document.activeElement)) $("#main").focus({ preventScroll: true });
  });
  $("#confirm").addEventListener("click", (event) => {
    if (event.target === event.currentTarget) event.currentTarget.close("cancel");
  });
  if (!session.key) {
    showSignIn("");
    return;
  }
  enter().catch((err) => leave(explain(err)));
}

boot();
