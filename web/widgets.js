// Small pieces that several pages draw: status badges, signal bars, the sparkline.

import { h, s } from "./dom.js";

/** A coloured badge for a message state. */
export function statusBadge(status, error) {
  return h("span", { class: `badge st-${status}`, title: error || null, "data-status": status }, status);
}

/** ↙ in / ↗ out, with a text alternative. */
export function directionMark(direction) {
  const inbound = direction === "in";
  return h(
    "span",
    { class: `dir ${inbound ? "dir-in" : "dir-out"}`, title: inbound ? "Received" : "Sent" },
    s(
      "svg",
      { viewBox: "0 0 16 16", width: 14, height: 14, "aria-hidden": "true" },
      s("path", {
        d: inbound ? "M12 4 4 12M4 6v6h6" : "M4 12 12 4M6 4h6v6",
        fill: "none",
        stroke: "currentColor",
        "stroke-width": 1.8,
        "stroke-linecap": "round",
        "stroke-linejoin": "round",
      }),
    ),
    h("span", { class: "sr-only" }, inbound ? "in" : "out"),
  );
}

/** Five bars, filled by signal quality 0–100; null means unknown. */
export function signalBars(signal, online = true) {
  const level = signal === null || signal === undefined || !online ? 0 : Math.ceil(signal / 20);
  const bars = [];
  for (let i = 0; i < 5; i++) {
    const height = 4 + i * 3;
    bars.push(
      s("rect", {
        x: i * 5,
        y: 18 - height,
        width: 3.2,
        height,
        rx: 1,
        class: i < level ? "bar on" : "bar",
      }),
    );
  }
  return s(
    "svg",
    {
      class: "signal",
      viewBox: "0 0 24 18",
      width: 30,
      height: 22,
      role: "img",
      "aria-label": signal === null || signal === undefined ? "signal unknown" : `signal ${signal}%`,
    },
    bars,
  );
}

/**
 * A sparkline of counts per time slot as stacked bars: inline SVG that stretches to its box,
 * with the x-axis labels as HTML under it (text in a stretched SVG would be distorted).
 * series: [{values: number[], class: "out"}], stacked bottom-up; ticks: labels spread evenly.
 */
export function sparkline(series, { label = "", ticks = [] } = {}) {
  const n = series[0]?.values.length || 0;
  const width = n * 10;
  const height = 60;
  const totals = Array.from({ length: n }, (_, i) => series.reduce((sum, x) => sum + x.values[i], 0));
  const max = Math.max(1, ...totals);
  const bars = [];
  for (let i = 0; i < n; i++) {
    let top = height;
    bars.push(s("rect", { x: i * 10 + 1, y: height - 1, width: 8, height: 1, class: "slot" }));
    for (const one of series) {
      const value = one.values[i];
      if (!value) continue;
      const h = Math.max(2, (value / max) * (height - 2));
      top -= h;
      bars.push(s("rect", { x: i * 10 + 1, y: top, width: 8, height: h, rx: 1.5, class: `bar ${one.class}` }));
    }
  }
  const svg = s(
    "svg",
    { class: "sparkline", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true" },
    bars,
  );
  return h(
    "figure",
    { class: "spark", role: "img", "aria-label": label },
    svg,
    h("div", { class: "spark-ticks" }, ticks.map((t) => h("span", null, t))),
  );
}

/** A friendly empty state. */
export function emptyState(title, text, ...actions) {
  return h("div", { class: "empty" }, h("p", { class: "empty-title" }, title), text ? h("p", null, text) : null, actions);
}

/** An error line for a failed load. */
export function errorLine(err) {
  return h("p", { class: "error", role: "alert" }, err.message || String(err));
}
