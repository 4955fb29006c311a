// The benchmark table as an SVG chart (bench/chart.svg, shown in BENCHMARKS.md): plain
// string building, no dependencies, so that the file is readable by itself on GitHub.
// Top panel: patched ÷ bare per row (linear, a line at 1.0×, bars from it), each row's
// target marked.
// Bottom panel: rows measured against an absolute target (hand-off, recovery, the flock
// layer's added cost), as value ÷ target on a log scale (their values span 1000×).

export interface ChartRow {
  label: string;
  /** What the target is about: a ratio (top panel) or a figure in the target's unit. */
  value: number;
  target: number;
  /** "max": the value must stay at or under the target (times); "min": at or over (throughput). */
  bound: "max" | "min";
  met: boolean;
  /** The value and the target as the table says them, e.g. "1.98×" and "≤ 1.2×". */
  valueText: string;
  targetText: string;
}

const FONT = "font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif";
const LABEL_W = 370; // the rows' names, right-aligned against the plot
const PLOT_W = 400;
const TEXT_W = 300; // the figures after each bar
const WIDTH = LABEL_W + PLOT_W + TEXT_W;
const ROW_H = 24;
const BAR_H = 14;
const MET = "#4477aa";
const MISSED = "#cc3311";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const n1 = (x: number) => x.toFixed(1);

/** One panel: header, axis with ticks, then a bar per row. Returns its SVG and height. */
function panel(
  top: number,
  title: string,
  note: string,
  rows: ChartRow[],
  scale: { x: (v: number) => number; ticks: { at: number; label: string }[]; base: number; baseLabel: string },
  barValue: (r: ChartRow) => number,
  targetValue: (r: ChartRow) => number,
): { svg: string; height: number } {
  const out: string[] = [];
  const x0 = LABEL_W;
  out.push(`<text x="10" y="${top + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="10" y="${top + 33}" font-size="11" fill="#555">${esc(note)}</text>`);
  const plotTop = top + 52;
  const plotBottom = plotTop + rows.length * ROW_H;
  // Ticks and grid.
  for (const t of scale.ticks) {
    const x = x0 + scale.x(t.at);
    out.push(`<line x1="${n1(x)}" y1="${plotTop - 4}" x2="${n1(x)}" y2="${plotBottom}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${n1(x)}" y="${plotTop - 8}" font-size="10" fill="#666" text-anchor="middle">${esc(t.label)}</text>`);
  }
  // Rows.
  rows.forEach((r, i) => {
    const y = plotTop + i * ROW_H;
    const mid = y + ROW_H / 2;
    const color = r.met ? MET : MISSED;
    out.push(`<text x="${x0 - 8}" y="${mid + 4}" font-size="12" text-anchor="end">${esc(r.label)}</text>`);
    const xb = x0 + scale.x(scale.base);
    const xv = x0 + scale.x(barValue(r));
    const [from, to] = xv < xb ? [xv, xb] : [xb, xv];
    out.push(`<rect x="${n1(from)}" y="${n1(mid - BAR_H / 2)}" width="${n1(Math.max(1, to - from))}" height="${BAR_H}" fill="${color}" fill-opacity="0.85"/>`);
    // The target: a dark mark across the bar, with a notch pointing to the allowed side.
    const xt = x0 + scale.x(targetValue(r));
    const notch = r.bound === "max" ? -5 : 5;
    out.push(`<path d="M${n1(xt)} ${n1(mid - BAR_H / 2 - 3)}V${n1(mid + BAR_H / 2 + 3)}M${n1(xt)} ${n1(mid - BAR_H / 2 - 3)}h${notch}" stroke="#222" stroke-width="2" fill="none"/>`);
    const xText = Math.max(xv, xt, xb) + 8;
    const missed = r.met ? "" : ` <tspan fill="${MISSED}" font-weight="bold">missed</tspan>`;
    out.push(`<text x="${n1(xText)}" y="${mid + 4}" font-size="11">${esc(r.valueText)} <tspan fill="#666">(target ${esc(r.targetText)})</tspan>${missed}</text>`);
  });
  // The reference line (1.0× = bare, or the target) over the bars.
  const xBase = x0 + scale.x(scale.base);
  out.push(`<line x1="${n1(xBase)}" y1="${plotTop - 4}" x2="${n1(xBase)}" y2="${plotBottom + 4}" stroke="#222" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${n1(xBase)}" y="${plotBottom + 16}" font-size="10" fill="#222" text-anchor="middle">${esc(scale.baseLabel)}</text>`);
  return { svg: out.join("\n"), height: plotBottom + 24 - top };
}

/** The SVG document: `ratios` (patched ÷ bare; targets as ratios) above `absolute`. */
export function chartSvg(o: { title: string; subtitle: string; ratios: ChartRow[]; absolute: ChartRow[] }): string {
  const parts: string[] = [];
  let y = 10;
  parts.push(`<text x="10" y="${y + 16}" font-size="16" font-weight="bold">${esc(o.title)}</text>`);
  parts.push(`<text x="10" y="${y + 34}" font-size="11" fill="#555">${esc(o.subtitle)}</text>`);
  y += 48;

  if (o.ratios.length) {
    // Linear, in round steps around 1.0× and every value and target: bars start at 1.0×,
    // so space left of the smallest figure would only be empty.
    const shown = o.ratios.flatMap((r) => [r.value, r.target]).filter(Number.isFinite);
    const top = Math.max(1.5, ...shown) * 1.05;
    const step = top > 6 ? 1 : 0.5;
    const max = Math.ceil(top / step) * step;
    const min = Math.max(0, Math.floor((Math.min(1, ...shown) * 0.95) / step) * step);
    const ticks = Array.from({ length: Math.round((max - min) / step) + 1 }, (_, i) => min + i * step).map((at) => ({ at, label: `${at.toFixed(1)}×` }));
    const x = (v: number) => ((Math.min(Math.max(v, min), max) - min) / (max - min)) * PLOT_W;
    const p = panel(
      y,
      "h5-threadsafe ÷ bare h5wasm",
      "Times: shorter is better; throughput: longer is better. Black mark: the row's target (its notch points to the allowed side).",
      o.ratios,
      { x, ticks, base: 1, baseLabel: "1.0× = bare" },
      (r) => r.value,
      (r) => r.target,
    );
    parts.push(p.svg);
    y += p.height + 16;
  }

  if (o.absolute.length) {
    // Log scale of value ÷ target, whole decades around what is shown; zero or negative
    // values (a cost measured below noise) sit at the left edge, their figure in the text.
    const ratios = o.absolute.map((r) => r.value / r.target).filter((v) => v > 0 && Number.isFinite(v));
    const lo = Math.max(-3, Math.min(-1, ...ratios.map((v) => Math.floor(Math.log10(v)))));
    const hi = Math.min(3, Math.max(1, ...ratios.map((v) => Math.ceil(Math.log10(v)))));
    const x = (v: number) => ((Math.min(Math.max(v > 0 ? Math.log10(v) : lo, lo), hi) - lo) / (hi - lo)) * PLOT_W;
    const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i).map((e) => ({ at: 10 ** e, label: e === 0 ? "1" : `${10 ** e}` }));
    const p = panel(
      y,
      "Against an absolute target: value ÷ target (log scale)",
      "Left of the dashed line: within the target. Hand-off p50 / p99, recovery time, the flock layer's added cost.",
      o.absolute,
      { x, ticks, base: 1, baseLabel: "1 = target" },
      (r) => r.value / r.target,
      () => 1,
    );
    parts.push(p.svg);
    y += p.height + 6;
  }

  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${Math.ceil(y)}" viewBox="0 0 ${WIDTH} ${Math.ceil(y)}" style="${FONT}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    `</svg>`,
    "",
  ].join("\n");
}
