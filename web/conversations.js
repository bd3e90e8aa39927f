// Conversations: one thread per peer, like a phone's messaging app, with a reply box.
// Replies name no SIM, so the relay's sticky routing answers from the SIM the peer wrote to.

import { ApiError, get, messagesBefore, newestMessageId, post } from "./api.js";
import { fill, h, toast } from "./dom.js";
import { encodingLabel, fullTime, isNewerState, messageTime, shortTime, simLabel } from "./format.js";
import { planSms } from "./sms.js";
import { emptyState, errorLine, statusBadge } from "./widgets.js";

const THREAD_PAGE = 200;

export function mount(root, ctx, initialPeer) {
  const threads = new Map(); // peer -> {peer, last: message, messages: count, inbound}
  const list = h("ul", { class: "thread-list", "aria-label": "Conversations" });
  const pane = h("section", { class: "thread-pane", "aria-live": "off" });
  const layout = h("div", { class: "conversations" }, h("nav", { class: "threads card", "aria-label": "Threads" }, list), pane);
  fill(root, h("div", { class: "page-head" }, h("h1", null, "Conversations")), layout);

  let peer = null;
  let thread = null; // {bubbles: Map(id -> {message, node}), box, cursor, controller}

  function renderList() {
    const sorted = [...threads.values()].sort((a, b) => b.last.id - a.last.id);
    if (!sorted.length) {
      fill(list, h("li", null, emptyState("No conversations yet", "When someone texts one of your SIMs, the thread appears here.")));
      return;
    }
    fill(
      list,
      sorted.map((t) =>
        h(
          "li",
          null,
          h(
            "a",
            {
              href: `#/conversations/${encodeURIComponent(t.peer)}`,
              class: "thread-link",
              "aria-current": t.peer === peer ? "page" : null,
              dataset: { peer: t.peer },
            },
            h(
              "span",
              { class: "thread-top" },
              h("span", { class: "thread-peer" }, t.peer),
              h("time", { datetime: messageTime(t.last), title: fullTime(messageTime(t.last)) }, shortTime(messageTime(t.last))),
            ),
            h("span", { class: "thread-snippet" }, t.last.direction === "out" ? "You: " : "", t.last.text),
          ),
        ),
      ),
    );
  }

  function note(m) {
    const t = threads.get(m.peer);
    if (!t) {
      threads.set(m.peer, { peer: m.peer, last: m, messages: 1, inbound: m.direction === "in" ? 1 : 0 });
    } else if (m.id >= t.last.id) {
      if (m.id > t.last.id) t.messages += 1;
      t.last = { ...t.last, ...m };
    }
  }

  function bubble(m) {
    const when = messageTime(m);
    const meta =
      m.direction === "in"
        ? [h("time", { datetime: when, title: fullTime(when) }, shortTime(when)), ` · to ${simLabel(m.sim, ctx.sims)}`]
        : [
            h("time", { datetime: when, title: fullTime(when) }, shortTime(when)),
            m.sim ? ` · via ${simLabel(m.sim, ctx.sims)}` : "",
            m.parts > 1 ? ` · ${m.parts} parts` : "",
            " ",
            statusBadge(m.status, m.error),
          ];
    return h(
      "div",
      { class: ["bubble", m.direction === "in" ? "in" : "out"], dataset: { id: m.id } },
      h("p", { class: "bubble-text" }, m.text),
      h("div", { class: "bubble-meta" }, meta),
    );
  }

  function placeBubble(m) {
    if (!thread || m.peer !== peer) return;
    const known = thread.bubbles.get(m.id);
    if (known) {
      if (!isNewerState(known.message.status, m.status)) return;
      const merged = { ...known.message, ...m };
      const node = bubble(merged);
      known.node.replaceWith(node);
      thread.bubbles.set(m.id, { message: merged, node });
      return;
    }
    const atBottom = thread.box.scrollHeight - thread.box.scrollTop - thread.box.clientHeight < 80;
    const node = bubble(m);
    let after = null;
    for (const other of thread.box.querySelectorAll(".bubble")) {
      if (Number(other.dataset.id) > m.id) {
        after = other;
        break;
      }
    }
    thread.box.insertBefore(node, after);
    thread.bubbles.set(m.id, { message: m, node });
    thread.box.querySelector(".empty")?.remove();
    if (atBottom || m.direction === "out") thread.box.scrollTop = thread.box.scrollHeight;
  }

  function openThread(next) {
    if (thread) thread.controller.abort();
    thread = null;
    peer = next;
    layout.classList.toggle("has-thread", Boolean(peer));
    renderList();
    if (!peer) {
      fill(pane, h("div", { class: "card thread-placeholder" }, emptyState("Pick a conversation", "Choose a thread to read it and reply.")));
      return;
    }
    const box = h("div", { class: "bubbles", role: "log", "aria-label": `Messages with ${peer}`, tabindex: "0" });
    const controller = new AbortController();
    thread = { peer, bubbles: new Map(), box, cursor: null, controller };
    fill(
      pane,
      h(
        "div",
        { class: "card thread" },
        h(
          "header",
          { class: "thread-head" },
          h("a", { href: "#/conversations", class: "back", "aria-label": "All conversations" }, "‹"),
          h("div", null, h("h2", { class: "thread-title" }, peer), h("p", { class: "muted thread-via" })),
        ),
        box,
        replyBox(peer),
      ),
    );
    loadThread(thread);
  }

  async function loadThread(current, earlier = false) {
    try {
      if (current.cursor === null) current.cursor = (await newestMessageId(current.controller.signal)) + 1;
      const page = await messagesBefore(current.cursor, THREAD_PAGE, { peer: current.peer }, current.controller.signal);
      if (current !== thread) return;
      current.cursor = page.cursor;
      const height = current.box.scrollHeight;
      for (const m of page.messages.reverse()) placeBubble(m);
      current.box.querySelector(".load-earlier")?.remove();
      if (current.cursor) {
        current.box.prepend(
          h("button", { type: "button", class: "ghost load-earlier", onclick: () => loadThread(current, true) }, "Load earlier messages"),
        );
      }
      if (!current.bubbles.size) current.box.append(emptyState("No messages with this number yet", "Write the first one below."));
      current.box.scrollTop = earlier ? current.box.scrollHeight - height : current.box.scrollHeight;
      showRoute(current);
      current.box.dataset.ready = "true";
    } catch (err) {
      if (err.name !== "AbortError" && current === thread) current.box.append(errorLine(err));
    }
  }

  // Sticky routing: the relay answers from the SIM this peer last wrote to.
  function showRoute(current) {
    const via = pane.querySelector(".thread-via");
    if (!via || current !== thread) return;
    const inbound = [...current.bubbles.values()].map((b) => b.message).filter((m) => m.direction === "in" && m.sim);
    const last = inbound.sort((a, b) => b.id - a.id)[0];
    fill(via, last ? `Replies go out via ${simLabel(last.sim, ctx.sims)}, the SIM they wrote to` : "Replies go out via the relay's routing");
  }

  function replyBox(to) {
    const counter = h("span", { class: "counter", "aria-live": "polite" });
    const text = h("textarea", {
      rows: 2,
      name: "reply",
      "aria-label": `Reply to ${to}`,
      placeholder: "Write a reply…",
      oninput: () => updateCounter(),
      onkeydown: (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit();
        }
      },
    });
    const button = h("button", { type: "submit", class: "primary" }, "Send");
    const updateCounter = () => {
      const plan = planSms(text.value);
      fill(counter, text.value ? `${encodingLabel(plan.encoding)} · ${plan.left} left · ${plan.parts} part${plan.parts === 1 ? "" : "s"}` : "");
    };
    const form = h(
      "form",
      {
        class: "reply",
        onsubmit: async (e) => {
          e.preventDefault();
          const body = text.value;
          if (!body.trim()) return;
          button.disabled = true;
          try {
            const result = await post("/api/v1/messages", { to, text: body, source: "web-ui" });
            text.value = "";
            updateCounter();
            const message = await get(`/api/v1/messages/${result.id}`);
            note(message);
            renderList();
            placeBubble(message);
          } catch (err) {
            toast(err instanceof ApiError ? err.message : String(err), "bad");
          } finally {
            button.disabled = false;
            text.focus();
          }
        },
      },
      h("div", { class: "reply-input" }, text, counter),
      button,
    );
    return form;
  }

  const off = ctx.on((event) => {
    if (!event.type.startsWith("sms.") || !event.data || !event.data.peer) return;
    note(event.data);
    renderList();
    placeBubble(event.data);
    if (thread && event.data.direction === "in") showRoute(thread);
  });

  const controller = new AbortController();
  (async () => {
    fill(list, h("li", { class: "muted pad" }, "Loading…"));
    try {
      const { conversations } = await get("/api/v1/conversations", undefined, { signal: controller.signal });
      for (const c of conversations) {
        const known = threads.get(c.peer);
        if (!known || c.last_message.id > known.last.id) {
          threads.set(c.peer, { peer: c.peer, last: c.last_message, messages: c.messages, inbound: c.inbound });
        }
      }
      renderList();
      root.dataset.ready = "true";
    } catch (err) {
      if (err.name !== "AbortError") fill(list, h("li", null, errorLine(err)));
    }
  })();
  openThread(initialPeer);

  return {
    update: (next) => openThread(next),
    unmount: () => {
      off();
      controller.abort();
      if (thread) thread.controller.abort();
    },
  };
}
