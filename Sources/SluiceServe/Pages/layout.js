// A layered left-to-right layout of a pipeline's graph (Sugiyama-lite, no library):
// columns by longest path from a source, alert publishers in the last column, dummy points
// for edges that span columns, crossings reduced by barycenter sweeps with ties broken by
// name. It depends only on the graph — never on counters — so it is computed once and the
// same graph always looks the same.
//
// nodes: [{name, kind}], edges: [{from, to, port}] → {nodes: Map name → {x, y}, edges: [{edge, points}], width, height}

export function layout(nodes, edges, opt = {}) {
  const W = opt.nodeW ?? 250, H = opt.nodeH ?? 88, GX = opt.gapX ?? 72, GY = opt.gapY ?? 40;
  const names = nodes.map(n => n.name);
  const byName = new Map(nodes.map(n => [n.name, {...n, ins: [], outs: []}]));
  const usable = edges.filter(e => byName.has(e.from) && byName.has(e.to) && e.from !== e.to);
  for (const e of usable) { byName.get(e.from).outs.push(e); byName.get(e.to).ins.push(e); }

  // 1. Column = longest path from a source (Kahn's order). A cycle (refused upstream) does
  //    not loop: what is left goes one column further.
  const indeg = new Map(names.map(k => [k, byName.get(k).ins.length]));
  const queue = names.filter(k => indeg.get(k) === 0);
  const depth = new Map(queue.map(k => [k, 0]));
  const order = [];
  while (queue.length) {
    const k = queue.shift();
    order.push(k);
    for (const e of byName.get(k).outs) {
      depth.set(e.to, Math.max(depth.get(e.to) ?? 0, depth.get(k) + 1));
      indeg.set(e.to, indeg.get(e.to) - 1);
      if (indeg.get(e.to) === 0) queue.push(e.to);
    }
  }
  if (order.length < names.length) {
    const deepest = Math.max(0, ...depth.values());
    for (const k of names) if (!order.includes(k)) { order.push(k); depth.set(k, deepest + 1); }
  }
  // 2. Alert publishers at the end, like CDAP Studio: one column after everything else.
  const publishers = names.filter(k => byName.get(k).kind === 'alertpublisher');
  if (publishers.length && publishers.length < names.length) {
    const last = Math.max(...names.filter(k => !publishers.includes(k)).map(k => depth.get(k)));
    for (const k of publishers) depth.set(k, last + 1);
  }
  // 3. Layers, with a dummy per column an edge crosses (its bend points).
  const layers = [];
  const place = (k, d) => (layers[d] ??= []).push(k);
  for (const k of order) place(k, depth.get(k));
  for (let d = 0; d < layers.length; d++) layers[d] ??= [];
  const segs = [];
  const chains = usable.map(() => []);
  let dummies = 0;
  usable.forEach((e, i) => {
    let prev = e.from;
    const [a, b] = [depth.get(e.from), depth.get(e.to)];
    // Forward edges only (a backward one, from a cycle refused upstream, is drawn straight).
    for (let d = a + 1; d < b; d++) {
      const id = `\u0000${dummies++}`;
      depth.set(id, d);
      place(id, d);
      segs.push([prev, id, e]);
      chains[i].push(id);
      prev = id;
    }
    segs.push([prev, e.to, e]);
  });
  // 4. Crossing reduction: barycenter sweeps down and up; ties by name (deterministic).
  const pos = new Map();
  const reindex = () => layers.forEach(l => l.forEach((k, i) => pos.set(k, i)));
  layers.forEach(l => l.sort((a, b) => a.localeCompare(b)));
  // A stable start: nodes in the order given (the plan's), dummies after.
  const given = new Map(names.map((k, i) => [k, i]));
  layers.forEach(l => l.sort((a, b) => (given.get(a) ?? 1e9) - (given.get(b) ?? 1e9) || a.localeCompare(b)));
  reindex();
  const ups = new Map(), downs = new Map();
  // Records pull harder than errors and alerts: the main flow stays straight.
  const weight = e => (e.port === 'errors' || e.port === 'alerts' ? 0.2 : 1);
  for (const [u, v, e] of segs) {
    (downs.get(u) ?? downs.set(u, []).get(u)).push([v, weight(e)]);
    (ups.get(v) ?? ups.set(v, []).get(v)).push([u, weight(e)]);
  }
  const weighted = (ns, at) => ns.reduce((t, [k, w]) => t + w * at(k), 0) / ns.reduce((t, [, w]) => t + w, 0);
  for (let pass = 0; pass < 12; pass++) {
    const down = pass % 2 === 0;
    const range = [...layers.keys()];
    if (!down) range.reverse();
    for (const d of range.slice(1)) {
      const bc = new Map(layers[d].map(k => {
        const ns = (down ? ups.get(k) : downs.get(k)) ?? [];
        return [k, ns.length ? weighted(ns, n => pos.get(n)) : pos.get(k)];
      }));
      layers[d].sort((a, b) => bc.get(a) - bc.get(b) || pos.get(a) - pos.get(b));
      reindex();
    }
  }
  // 5. Coordinates: columns by depth; in each column, in the order found, every node as
  //    near as it can to the middle of its neighbours in the column before (then after,
  //    then before again), never closer than a gap to the one above it. A bend point takes
  //    a thin slot only, so long edges do not make the graph tall.
  const isDummy = k => k.startsWith('\u0000');
  const DH = 12, DG = 10;
  const half = k => (isDummy(k) ? DH : byName.get(k).height ?? H) / 2;
  const sep = (a, b) => half(a) + half(b) + (isDummy(a) || isDummy(b) ? DG : GY);
  const center = new Map();
  for (const l of layers) {
    let y = 0;
    l.forEach((k, i) => { y = i ? y + sep(l[i - 1], k) : half(k); center.set(k, y); });
  }
  const settle = (l, want) => {
    if (!l.length) return;
    const a = l.map(want), b = l.map(want);
    for (let i = 1; i < l.length; i++) a[i] = Math.max(a[i], a[i - 1] + sep(l[i - 1], l[i]));
    for (let i = l.length - 2; i >= 0; i--) b[i] = Math.min(b[i], b[i + 1] - sep(l[i], l[i + 1]));
    l.forEach((k, i) => center.set(k, (a[i] + b[i]) / 2));
  };
  for (const down of [true, false, true]) {
    const range = [...layers.keys()];
    if (!down) range.reverse();
    for (const d of range.slice(1)) {
      settle(layers[d], k => {
        const ns = (down ? ups.get(k) : downs.get(k)) ?? [];
        return ns.length ? weighted(ns, n => center.get(n)) : center.get(k);
      });
    }
  }
  let top = Infinity, bottom = -Infinity;
  for (const [k, c] of center) { top = Math.min(top, c - half(k)); bottom = Math.max(bottom, c + half(k)); }
  if (!Number.isFinite(top)) { top = 0; bottom = H; }
  const xy = new Map();
  layers.forEach((l, d) => l.forEach(k => xy.set(k, {x: d * (W + GX), y: center.get(k) - top - H / 2})));
  const height = Math.max(H, bottom - top);
  const out = new Map(names.map(k => [k, xy.get(k)]));
  const routed = usable.map((edge, i) => ({edge, via: chains[i].map(id => xy.get(id))}));
  return {nodes: out, edges: routed, W, H,
    width: Math.max(W, layers.length * (W + GX) - GX), height};
}

/// Where an edge leaves or enters a node: records and named ports on the right (spread
/// out when several leave), the error port at the bottom, the alert port at the top; inputs
/// on the left, spread out when several enter.
export function anchors(result, portX) {
  const {nodes, edges, W, H} = result;
  const outs = new Map(), ins = new Map();
  for (const r of edges) {
    const side = r.edge.port === 'errors' || r.edge.port === 'alerts' ? r.edge.port : 'right';
    const key = `${r.edge.from}|${side}`;
    (outs.get(key) ?? outs.set(key, []).get(key)).push(r);
    (ins.get(r.edge.to) ?? ins.set(r.edge.to, []).get(r.edge.to)).push(r);
  }
  const firstY = r => (r.via[0] ?? nodes.get(r.edge.to)).y;
  // Inputs in the order of where their edges come from (a bend point, or the port they left).
  const lastY = r => (r.via.length ? r.via.at(-1).y + H / 2 : r.start.y);
  for (const [key, list] of outs) {
    const cut = key.lastIndexOf('|');
    const from = key.slice(0, cut), side = key.slice(cut + 1);
    const n = nodes.get(from);
    list.sort((a, b) => firstY(a) - firstY(b) || a.edge.to.localeCompare(b.edge.to));
    list.forEach((r, i) => {
      if (side === 'right') r.start = {x: n.x + W, y: n.y + H * (i + 1) / (list.length + 1), dir: 'right'};
      else r.start = {x: n.x + portX, y: side === 'errors' ? n.y + H : n.y, dir: side === 'errors' ? 'down' : 'up', clear: n.x + W + 14};
    });
  }
  for (const [to, list] of ins) {
    const n = nodes.get(to);
    list.sort((a, b) => lastY(a) - lastY(b) || a.edge.from.localeCompare(b.edge.from) || a.edge.port.localeCompare(b.edge.port));
    list.forEach((r, i) => { r.end = {x: n.x, y: n.y + H * (i + 1) / (list.length + 1)}; });
  }
  return edges;
}

/// An SVG path through the edge's points: a short vertical leg out of a top/bottom port,
/// then smooth horizontal curves through each bend point (which spans its column).
export function pathData(r, W, H) {
  const s = r.start, e = r.end;
  let d = `M${s.x},${s.y}`;
  let cur = {x: s.x, y: s.y};
  if (s.dir === 'up' || s.dir === 'down') {
    // Out of the port vertically, round the corner, and along the node until past its right side.
    const sign = s.dir === 'up' ? -1 : 1, y = s.y + sign * 16;
    d += ` L${s.x},${y - sign * 8} Q${s.x},${y} ${s.x + 8},${y} L${s.clear},${y}`;
    cur = {x: s.clear, y};
  }
  const curveTo = p => {
    const dx = Math.max(24, (p.x - cur.x) / 2);
    d += ` C${cur.x + dx},${cur.y} ${p.x - dx},${p.y} ${p.x},${p.y}`;
    cur = p;
  };
  for (const v of r.via) {
    const y = v.y + H / 2;
    curveTo({x: v.x, y});
    d += ` L${v.x + W},${y}`;
    cur = {x: v.x + W, y};
  }
  curveTo(e);
  return d;
}
