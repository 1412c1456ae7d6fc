// Small SVG charts (Grafana-like panels) drawn from arrays, sized to their container.
// Colours come from CSS classes (light and dark), text is fill: currentColor.
import {s} from './dom.js';

/// Round tick values covering 0…max; `integer`: whole steps only (counts), so a max of 1
/// gives 0, 1 and never 0.25 shown as "0".
export function ticks(max, n = 4, integer = false) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(st => st >= raw) ?? raw;
  if (integer) step = step < 1 ? 1 : step === 2.5 ? 2 : Math.ceil(step);
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(Number(v.toPrecision(12)));
  if (out.at(-1) < max) out.push(Number((out.at(-1) + step).toPrecision(12)));
  return out;
}

/// A chart: `series` [{name, cls, values, type: 'bar'|'line'}] over `labels` (x), optional
/// horizontal `rules` [{value, cls, label}]; `format` for the y axis; `tip(i)` a row's tooltip;
/// `integer`: the values are counts (whole ticks). A rule far above the values (a 10 s SLA over
/// batches of milliseconds) would flatten them: it is drawn on the top edge, its label saying so.
export function chart({kind, title, width, height = 200, labels, series, rules = [], format = String, stacked = false, tip, integer = false}) {
  const n = labels.length;
  const stackTop = i => series.filter(x => x.type === 'bar').reduce((a, x) => a + (x.values[i] ?? 0), 0);
  let max = 0;
  for (const x of series) for (const v of x.values) if (v > max) max = v;
  if (stacked) for (let i = 0; i < n; i++) max = Math.max(max, stackTop(i));
  const dataMax = max;
  const offScale = r => dataMax > 0 && r.value > dataMax * 5;
  // An off-scale rule gets a band of its own above the plot.
  const M = {l: 52, r: 12, t: rules.some(offScale) ? 30 : 12, b: 24};
  const w = Math.max(200, width), iw = w - M.l - M.r, ih = height - M.t - M.b;
  for (const r of rules) if (r.value > max && !offScale(r)) max = r.value * 1.1;
  const yt = ticks(max, 4, integer);
  const top = yt.at(-1) || 1;
  const y = v => M.t + ih - (v / top) * ih;
  const band = n ? iw / n : iw;
  const x = i => M.l + band * i + band / 2;
  const svg = s('svg', {class: 'chart', 'data-chart': kind, width: w, height, viewBox: `0 0 ${w} ${height}`, role: 'img', 'aria-label': title},
    s('title', {}, title));
  const grid = s('g', {class: 'grid'});
  for (const v of yt) {
    grid.append(s('line', {x1: M.l, x2: w - M.r, y1: y(v), y2: y(v)}),
      s('text', {class: 'axis', x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end'}, v === 0 ? '0' : format(v)));
  }
  svg.append(grid);
  // x labels: about 6, on batch numbers
  const every = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(iw / 70))));
  for (let i = 0; i < n; i += every) svg.append(s('text', {class: 'axis', x: x(i), y: height - 6, 'text-anchor': 'middle'}, String(labels[i])));
  const bars = series.filter(x => x.type === 'bar');
  const bw = Math.max(1, Math.min(24, band * (stacked || bars.length < 2 ? 0.7 : 0.8 / bars.length)));
  const base = new Array(n).fill(0);
  bars.forEach((ser, k) => {
    const g = s('g', {class: `series ${ser.cls}`, 'data-series': ser.name});
    ser.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const bottom = stacked ? base[i] : 0;
      const x0 = stacked || bars.length < 2 ? x(i) - bw / 2 : x(i) - (bw * bars.length) / 2 + k * bw;
      const hgt = Math.max(v > 0 ? 1 : 0, y(bottom) - y(bottom + v));
      const r = s('rect', {x: x0, y: y(bottom + v), width: bw, height: hgt, class: ser.classOf ? ser.classOf(v, i) : null});
      if (tip) r.append(s('title', {}, tip(i)));
      g.append(r);
      if (stacked) base[i] += v;
    });
    svg.append(g);
  });
  for (const ser of series.filter(x => x.type === 'line')) {
    const pts = ser.values.map((v, i) => (v === null || v === undefined ? null : `${x(i)},${y(v)}`)).filter(Boolean);
    if (!pts.length) continue;
    const g = s('g', {class: `series ${ser.cls}`, 'data-series': ser.name},
      s('polyline', {points: pts.join(' '), fill: 'none'}));
    if (n <= 60) ser.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const c = s('circle', {cx: x(i), cy: y(v), r: 2.5});
      if (tip) c.append(s('title', {}, tip(i)));
      g.append(c);
    });
    svg.append(g);
  }
  for (const r of rules) {
    if (offScale(r)) {
      const label = `${r.label}, above the scale ↑`;
      const end = Math.max(M.l + 20, w - M.r - label.length * 6.4 - 8);
      svg.append(s('g', {class: `rule ${r.cls}`, 'data-off-scale': 'true'},
        s('line', {class: r.cls, x1: M.l, x2: end, y1: 10, y2: 10}),
        s('text', {class: 'rule-label', x: w - M.r, y: 14, 'text-anchor': 'end'}, label)));
      continue;
    }
    svg.append(s('g', {class: `rule ${r.cls}`},
      s('line', {class: r.cls, x1: M.l, x2: w - M.r, y1: y(r.value), y2: y(r.value)}),
      s('text', {class: 'rule-label', x: w - M.r - 4, y: y(r.value) - 5, 'text-anchor': 'end'}, r.label)));
  }
  return svg;
}
