// How a text becomes SMS parts, by the rules the relay's codec uses (modem/codec.py):
// GSM 03.38 basic table (1 septet) and extension table (escape + 1, so 2 septets),
// 160 septets in a single SMS, 153 per part of a multipart one; anything outside GSM-7
// makes the whole text UCS-2: 70 UTF-16 units single, 67 per part. A character is never
// cut between parts (neither an escape pair nor a surrogate pair).

const GSM7_BASIC =
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION = "\f^{}\\[~]|€";

export const LIMITS = {
  gsm7: { single: 160, multi: 153, unit: "characters" },
  ucs2: { single: 70, multi: 67, unit: "characters" },
};

const septets = new Map();
for (const ch of GSM7_BASIC) septets.set(ch, 1);
for (const ch of GSM7_EXTENSION) septets.set(ch, 2);

/** Septets a character takes in GSM-7 (0 when it has none). */
export function septetCost(ch) {
  return septets.get(ch) ?? 0;
}

/** UTF-16 code units of one code point: 2 for a surrogate pair (emoji), else 1. */
export function utf16Cost(ch) {
  return ch.codePointAt(0) > 0xffff ? 2 : 1;
}

/** Characters of `text` that GSM-7 cannot carry, each once, in order of appearance. */
export function unencodable(text) {
  const seen = new Set();
  for (const ch of text) if (!septets.has(ch)) seen.add(ch);
  return [...seen];
}

/**
 * Plan `text` like the server: {encoding, parts, segments, used, left, perPart, single, bad}.
 * `encoding` "gsm7" forces GSM-7 (then `bad` lists what it cannot carry).
 */
export function planSms(text, encoding = "auto") {
  const bad = unencodable(text);
  const chosen = encoding === "gsm7" || bad.length === 0 ? "gsm7" : "ucs2";
  const cost = chosen === "gsm7" ? (ch) => septetCost(ch) || 1 : utf16Cost;
  const { single, multi } = LIMITS[chosen];
  const chars = [...text];
  const used = chars.reduce((sum, ch) => sum + cost(ch), 0);
  let segments;
  let left;
  if (used <= single) {
    segments = text ? [text] : [];
    left = single - used;
  } else {
    segments = [];
    let current = "";
    let inPart = 0;
    for (const ch of chars) {
      const c = cost(ch);
      if (inPart + c > multi) {
        segments.push(current);
        current = "";
        inPart = 0;
      }
      current += ch;
      inPart += c;
    }
    segments.push(current);
    left = multi - inPart;
  }
  return {
    encoding: chosen,
    parts: segments.length,
    segments,
    used,
    left,
    perPart: segments.length > 1 ? multi : single,
    bad: chosen === "gsm7" ? bad : [],
  };
}
