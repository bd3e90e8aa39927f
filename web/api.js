// The relay's public API as the UI uses it: JSON calls with the key from sessionStorage,
// and the event stream read with fetch() so the key travels in a header (EventSource can't).

const KEY_STORAGE = "relayd.key";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the relay answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error.code || "http_error";
    this.field = error.field || null;
  }
}

export const session = {
  get key() {
    return sessionStorage.getItem(KEY_STORAGE);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
  },
};

/** Called with the ApiError when the stored key stops working (revoked while signed in). */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * One API call. `query` values that are null/undefined/"" are left out.
 * Resolves to the decoded JSON body; rejects with ApiError (status 0: the relay is unreachable).
 */
export async function call(method, path, { body, query, key, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  const secret = key ?? session.key;
  if (secret) headers.Authorization = `Bearer ${secret}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { error: { code: "unreachable", message: "cannot reach the relay" } });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && key === undefined) onUnauthorized(error);
    throw error;
  }
  return data;
}

export const get = (path, query, options) => call("GET", path, { ...options, query });
export const post = (path, body, options) => call("POST", path, { ...options, body });
export const del = (path, options) => call("DELETE", path, options);
export const patch = (path, body, options) => call("PATCH", path, { ...options, body });
export const put = (path, body, options) => call("PUT", path, { ...options, body });

/**
 * Newest messages first, `count` of them or fewer, with ids below `beforeId`.
 *
 * The API pages upward (ascending ids after `since_id`); walking down in windows of ids
 * gives "older" pages for infinite scroll. A window never holds more ids than its limit,
 * so no message is skipped. Returns {messages, cursor} where cursor is the next beforeId
 * (0 when nothing older can exist).
 */
export async function messagesBefore(beforeId, count, filters = {}, signal) {
  const WINDOW = 500;
  const MAX_CALLS = 12;
  const found = [];
  let cursor = beforeId;
  for (let calls = 0; calls < MAX_CALLS && cursor > 1 && found.length < count; calls++) {
    const since = Math.max(0, cursor - 1 - WINDOW);
    const page = await get(
      "/api/v1/messages",
      { ...filters, since_id: since, limit: WINDOW },
      { signal },
    );
    const batch = page.messages.filter((m) => m.id < cursor);
    found.unshift(...batch);
    cursor = since + 1;
  }
  found.sort((a, b) => b.id - a.id);
  return { messages: found, cursor: cursor > 1 ? cursor : 0 };
}

/** The id just above the org's newest message (the first conversation's last message). */
export async function newestMessageId(signal) {
  const { conversations } = await get("/api/v1/conversations", undefined, { signal });
  return conversations.reduce((max, c) => Math.max(max, c.last_message.id), 0);
}

/**
 * The live event stream. `onEvent({id, type, timestamp, data})` for each event,
 * `onState("connecting" | "live" | "retrying")`. Reconnects with Last-Event-ID, so a
 * dropped connection loses nothing.
 */
export class EventStream {
  constructor({ onEvent, onState }) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.retryMs = 2000;
    this.failures = 0;
    this.controller = null;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.controller) this.controller.abort();
  }

  async connect() {
    if (this.stopped) return;
    this.onState(this.failures ? "retrying" : "connecting");
    this.controller = new AbortController();
    const headers = { Accept: "text/event-stream", Authorization: `Bearer ${session.key}` };
    if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
    try {
      const response = await fetch("/api/v1/events", {
        headers,
        signal: this.controller.signal,
        cache: "no-store",
      });
      if (response.status === 401) {
        onUnauthorized(new ApiError(401, await response.json().catch(() => null)));
        return;
      }
      if (!response.ok || !response.body) throw new Error(`event stream answered ${response.status}`);
      this.failures = 0;
      this.onState("live");
      await this.read(response.body);
    } catch (err) {
      if (this.stopped) return;
      if (err.name !== "AbortError") this.failures += 1;
    }
    if (this.stopped) return;
    this.failures = Math.max(this.failures, 1);
    this.onState("retrying");
    const delay = Math.min(this.retryMs * 2 ** (this.failures - 1), 30000);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  dispatch(block) {
    let id = null;
    let data = "";
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.lastId = id;
    if (!data) return;
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    this.onEvent(event);
  }
}
