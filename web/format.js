// Times, numbers and states as a person reads them.

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** "14:05" today, "Nov 3, 14:05" before. */
export function shortTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeFmt.format(date) : dateTimeFmt.format(date);
}

/** Full date and time, for a title attribute. */
export function fullTime(iso) {
  return iso ? fullFmt.format(new Date(iso)) : "";
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (seconds < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 36) return `${hours} h ago`;
  const days = Math.round(hours / 24);
  return `${days} days ago`;
}

/** Midnight of today, local time. */
export function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d;
}

/** The time a message happened for a person: received, else created. */
export function messageTime(message) {
  return message.direction === "in" ? message.received_at || message.created_at : message.created_at;
}

export const OUT_STATES = ["queued", "sending", "sent", "delivered"];
export const END_STATES = ["failed", "expired", "cancelled"];
export const ALL_STATES = [...OUT_STATES, ...END_STATES, "received"];

const RANK = { received: 0, queued: 0, sending: 1, sent: 2, delivered: 3, failed: 3, expired: 3, cancelled: 3 };

/** True when `next` is not older than `current` (events and fetches may cross). */
export function isNewerState(current, next) {
  return (RANK[next] ?? 0) >= (RANK[current] ?? 0);
}

/** "SIM modem:demo" -> "demo", using the known SIMs. */
export function simLabel(simId, sims) {
  if (!simId) return "—";
  const sim = (sims || []).find((x) => x.id === simId);
  return sim ? sim.name : simId.replace(/^(modem|phone):/, "");
}

/** "gsm7" -> "GSM-7". */
export function encodingLabel(encoding) {
  return encoding === "ucs2" ? "UCS-2" : "GSM-7";
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}
