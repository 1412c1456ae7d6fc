// The pipeline page: the graph (stages by kind, record/error/alert edges, alert ports,
// publishers at the end) with live counters per stage, a strip of run figures, and a side
// panel with a stage's plugin, properties, counters and last errors.
import * as api from './api.js';
import {h, s, clear, empty, table} from './dom.js';
import {count, integer, duration, time, absolute, portsText} from './format.js';
import {layout, anchors, pathData} from './layout.js';

const COUNTERS = [
  ['recordsIn', 'in'], ['recordsOut', 'out'], ['errors', 'err'], ['alertsEmitted', 'alerts'], ['alertsPublished', 'sent'],
];
/// An alert publisher takes alerts, not records: its node shows what it received, sent and
/// failed to send (status.publishers), under the same counter names.
const PUBLISHER_COUNTERS = [['recordsIn', 'alerts in'], ['alertsPublished', 'sent'], ['errors', 'failed']];
const LONG_LABEL = {recordsIn: 'records in', recordsOut: 'records out', errors: 'errors', alertsEmitted: 'alerts emitted',
  alertsPublished: 'alerts published'};
const PUBLISHER_LONG_LABEL = {recordsIn: 'alerts in', alertsPublished: 'sent', errors: 'failed'};
const countersFor = stage => (stage.kind === 'alertpublisher' ? PUBLISHER_COUNTERS : COUNTERS);
const KIND_LABEL = {source: 'Source', transform: 'Transform', sink: 'Sink', alertpublisher: 'Alert publisher', pipeline: 'Pipeline'};
const kindLabel = kind => (Object.hasOwn(KIND_LABEL, kind) ? KIND_LABEL[kind] : String(kind));
const PORT_X = 208;       // where the error and alert ports sit on a node (from its left)
const MARGIN = 28;

/// Which counters mean something for a kind (the others are drawn dimmed).
function applies(stage, counter) {
  if (stage.kind === 'alertpublisher') return true;
  const alerts = counter === 'alertsEmitted' || counter === 'alertsPublished';
  if (alerts) return !!stage.emitsAlerts;
  if (stage.kind === 'source') return counter !== 'recordsIn';
  if (stage.kind === 'sink') return counter !== 'recordsOut';
  return true;
}

/// A recorded run's summary (host run --summary-json) in the shape of a live status, for the
/// counters of a run that is over.
export function statusOfSummary(summary) {
  const num = v => (typeof v === 'number' ? v : null);
  return {
    stages: (Array.isArray(summary.stages) ? summary.stages : []).map(x => ({
      name: x.name, recordsIn: num(x.recordsIn), recordsOut: num(x.recordsOut), errors: num(x.errors),
      alertsEmitted: num(x.alerts?.emitted), alertsPublished: num(x.alerts?.published),
      counters: x.counters && typeof x.counters === 'object' ? x.counters : {}})),
    publishers: Array.isArray(summary.publishers) ? summary.publishers : [],
  };
}

/// A stage's counters from a status answer. An alert publisher's come from its
/// `publishers` entry (received → recordsIn, published → alertsPublished, failed → errors):
/// its `stages` entry counts records, and a publisher gets none.
export function countersOf(status, stage) {
  if (!status) return null;
  if (stage.kind === 'alertpublisher') {
    const p = (status.publishers ?? []).find(x => x.name === stage.name);
    return p ? {recordsIn: p.received, recordsOut: null, errors: p.failed, alertsEmitted: null, alertsPublished: p.published, publisher: p} : null;
  }
  return (status.stages ?? []).find(x => x.name === stage.name) ?? null;
}

function setCounter(el, value) {
  const raw = value === null || value === undefined ? '' : String(value);
  if (el.getAttribute('data-value') === raw && el.textContent !== '') return false;
  el.setAttribute('data-value', raw);
  el.textContent = count(value);
  if (value !== null && value !== undefined) el.setAttribute('title', integer(value));
  return true;
}

function truncate(text, max) { return text.length > max ? text.slice(0, max - 1) + '…' : text; }

function drawGraph(graph) {
  const hasPipelineAlerts = graph.edges.some(e => e.from === '@pipeline');
  const nodes = graph.stages.map(st => ({...st}));
  if (hasPipelineAlerts) nodes.unshift({name: '@pipeline', kind: 'pipeline', emitsAlerts: true, emitsErrors: false, plugin: 'its own alerts', height: 36});
  const L = layout(nodes, graph.edges);
  const routed = anchors(L, PORT_X);
  const {W, H} = L;
  // The pipeline's own alerts leave its pill on the right.
  for (const r of routed) {
    if (r.edge.from !== '@pipeline') continue;
    const at = L.nodes.get('@pipeline');
    r.start = {x: at.x + W, y: at.y + H / 2, dir: 'right'};
  }
  const width = L.width + MARGIN * 2, height = L.height + MARGIN * 2 + 24;
  const svg = s('svg', {id: 'pipeline-graph', width, height, viewBox: `${-MARGIN} ${-MARGIN - 12} ${width} ${height}`,
    role: 'img', 'aria-label': `The pipeline ${graph.name}: ${graph.stages.length} stages`, class: 'graph'});
  svg.append(s('defs', {},
    ['records', 'errors', 'alerts', 'port'].map(kind =>
      s('marker', {id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'},
        s('path', {d: 'M0,0 L10,5 L0,10 z', class: `arrow arrow-${kind}`})))));

  const edgeLayer = s('g', {class: 'edges'});
  for (const r of routed) {
    const port = r.edge.port;
    const kind = port === 'errors' || port === 'alerts' || port === 'records' ? port : 'port';
    const path = s('path', {class: `edge edge-${kind}`, d: pathData(r, W, H), 'data-from': r.edge.from, 'data-to': r.edge.to,
      'data-port': port, 'marker-end': `url(#arrow-${kind})`},
      s('title', {}, `${r.edge.from} → ${r.edge.to} (${port})`));
    edgeLayer.append(path);
    if (kind === 'port') {
      edgeLayer.append(s('text', {class: 'edge-label', x: r.start.x + 8, y: r.start.y - 5}, truncate(port, 18)));
    }
  }
  svg.append(edgeLayer);

  const counters = new Map();
  for (const st of nodes) {
    const at = L.nodes.get(st.name);
    if (st.kind === 'pipeline') {
      svg.append(s('g', {class: 'pseudo', transform: `translate(${at.x},${at.y + H / 2 - 18})`},
        s('rect', {class: 'pseudo-box', width: W, height: 36, rx: 18}),
        s('text', {class: 'node-name', x: 18, y: 23}, 'pipeline alerts'),
        s('title', {}, 'the pipeline\'s own alerts (docs/alerts.md)')));
      continue;
    }
    const g = s('g', {class: 'stage', 'data-stage': st.name, 'data-kind': st.kind, transform: `translate(${at.x},${at.y})`,
      tabindex: 0, role: 'button', 'aria-label': `${kindLabel(st.kind)} ${st.name}: details`});
    g.append(
      s('title', {}, `${st.name} — ${st.plugin} ${st.version ?? ''}`),
      s('rect', {class: 'node-box', width: W, height: H, rx: 9}),
      s('rect', {class: 'node-accent', width: 6, height: H - 2, x: 1, y: 1, rx: 3}),
      s('text', {class: 'node-kind', x: 16, y: 18}, truncate(`${kindLabel(st.kind).toUpperCase()} · ${st.plugin}`, 34)),
      s('text', {class: 'node-name', x: 16, y: 38}, truncate(st.name, 26)));
    const cells = countersFor(st);
    const cellW = (W - 20) / cells.length;
    const map = new Map();
    cells.forEach(([key, label], i) => {
      const x = 16 + i * cellW;
      const na = applies(st, key) ? '' : ' na';
      g.append(s('text', {class: `counter-label${na}`, x, y: 60}, label));
      const value = s('text', {class: `counter${na}`, x, y: 77, 'data-counter': key, 'data-value': ''}, '—');
      g.append(value);
      map.set(key, value);
    });
    counters.set(st.name, map);
    if (st.emitsErrors) g.append(s('circle', {class: 'port port-errors', 'data-port': 'errors', cx: PORT_X, cy: H, r: 5.5},
      s('title', {}, 'error port')));
    if (st.emitsAlerts) g.append(s('circle', {class: 'port port-alerts', 'data-port': 'alerts', cx: PORT_X, cy: 0, r: 5.5},
      s('title', {}, 'alert port')));
    svg.append(g);
  }
  return {svg, counters, stages: nodes.filter(n => n.kind !== 'pipeline')};
}

/// Zoom: the graph is drawn at its natural size (wide graphs scroll); −/+ and "fit" scale it.
function zoomBar(svg, canvas) {
  const w = Number(svg.getAttribute('width')), ht = Number(svg.getAttribute('height'));
  let scale = 1;
  const label = h('span', {class: 'zoom-level num'}, '100%');
  const set = v => {
    scale = Math.min(2, Math.max(0.3, v));
    svg.setAttribute('width', String(Math.round(w * scale)));
    svg.setAttribute('height', String(Math.round(ht * scale)));
    label.textContent = `${Math.round(scale * 100)}%`;
  };
  const button = (text, title, fn) => h('button', {type: 'button', class: 'small', title, 'aria-label': title, onclick: fn}, text);
  // A graph up to about a third wider than the window is shown whole at first (its text
  // stays readable); a wider one scrolls.
  requestAnimationFrame(() => {
    const ratio = (canvas.clientWidth - 4) / w;
    if (ratio < 1 && ratio >= 0.7) set(ratio);
  });
  return h('div', {class: 'graph-toolbar'},
    h('span', {class: 'muted small'}, 'Click a stage for its details'), h('span', {class: 'spacer'}),
    button('−', 'Zoom out', () => set(scale / 1.2)), label, button('+', 'Zoom in', () => set(scale * 1.2)),
    button('Fit', 'Fit the graph in the window', () => set(Math.min(1, (canvas.clientWidth - 4) / w))),
    button('1:1', 'Natural size', () => set(1)));
}

function legend() {
  const item = (cls, text) => h('span', {class: 'legend-item'}, h('span', {class: `legend-swatch ${cls}`}), text);
  return h('div', {class: 'legend', 'aria-label': 'Legend'},
    item('kind-source', 'source'), item('kind-transform', 'transform'), item('kind-sink', 'sink'),
    item('kind-alertpublisher', 'alert publisher'),
    item('line-records', 'records'), item('line-errors', 'errors'), item('line-alerts', 'alerts'),
    item('dot-alerts', 'alert port'), item('dot-errors', 'error port'));
}

function runStrip(mode, pipeline) {
  const cells = [['status', 'Status'], ['batches', 'Batches'], ['records', 'Records'], ['errors', 'Errors'],
    ['lastBatch', 'Last batch'], ['health', 'Health']];
  const strip = h('div', {class: 'stats', id: 'run-stats'},
    cells.map(([k, label]) => h('div', {class: 'stat', 'data-stat': k}, h('div', {class: 'stat-label'}, label),
      h('div', {class: 'stat-value'}, '—'))));
  const set = (k, value, title, state) => {
    const cell = strip.querySelector(`[data-stat="${k}"]`);
    const v = cell.querySelector('.stat-value');
    if (value instanceof Node) v.replaceChildren(value); else v.textContent = value;
    if (title) cell.setAttribute('title', title); else cell.removeAttribute('title');
    if (state) cell.setAttribute('data-state', state); else cell.removeAttribute('data-state');
  };
  const update = st => {
    set('status', st.status ?? '—', st.run ? `run ${st.run}` : null, st.status);
    set('batches', integer(st.batches));
    set('records', count(st.records), integer(st.records));
    set('errors', count(st.errors), integer(st.errors), st.errors > 0 ? 'warn' : null);
    set('lastBatch', st.lastBatchMs ? time(st.lastBatchMs) : '—', st.lastBatchMs ? absolute(st.lastBatchMs) : null);
    const healthy = st.health?.healthy;
    set('health', healthy === undefined || healthy === null ? '—' : healthy ? 'healthy' : 'unhealthy',
      (st.health?.reasons ?? []).map(r => r?.message ?? String(r)).join('\n') || null, healthy === false ? 'bad' : healthy ? 'good' : null);
  };
  /// Not live: the newest recorded run's figures, from the history.
  const recorded = async () => {
    const data = await api.getOptional(api.pipelinePath(pipeline.id, '/runs?limit=1')).catch(() => null);
    const run = data?.runs?.[0];
    if (!run) { set('status', 'no runs', 'no recorded run: history is off (--no-history) or the pipeline never ran'); return null; }
    set('status', run.status ?? '—', `run ${run.id}`, run.status);
    set('batches', integer(run.batches));
    set('records', count(run.recordsIn), integer(run.recordsIn));
    set('errors', count(run.errors), integer(run.errors), run.errors > 0 ? 'warn' : null);
    const at = run.endedMs ?? run.startedMs;
    strip.querySelector('[data-stat="lastBatch"] .stat-label').textContent = run.endedMs ? 'Ended' : 'Started';
    set('lastBatch', at ? time(at) : '—', at ? absolute(at) : null);
    set('health', 'not live', 'health is known while a host runs the pipeline (host run --http)');
    return run;
  };
  return {strip, update, recorded};
}

export async function render(view) {
  const {main, pipeline, mode, live} = view;
  if (!pipeline) {
    main.append(empty('No pipeline to show.', 'host serve --state DIR shows the pipelines whose state folders it is given; host run --http ADDR shows the one it runs.'));
    return;
  }
  const graph = await api.getOptional(api.pipelinePath(pipeline.id, '/graph'));
  if (!view.current()) return;
  const head = h('div', {class: 'page-head'}, h('h1', {}, pipeline.name),
    h('span', {class: 'muted'}, `namespace ${pipeline.namespace}`));
  const {strip, update, recorded} = runStrip(mode, pipeline);
  main.append(head, strip);
  let summary = null;
  if (mode !== 'run' || !pipeline.live) {
    const run = await recorded();
    // The stages' counters of a recorded run: its summary (null until it ended).
    const detail = run ? await api.getOptional(api.pipelinePath(pipeline.id, `/runs/${encodeURIComponent(run.id)}?limit=1`)).catch(() => null) : null;
    if (!view.current()) return;
    summary = detail?.summary && typeof detail.summary === 'object' ? detail.summary : null;
    main.append(h('p', {class: 'note', id: 'recorded-note'}, 'Not running in this host: ',
      summary ? 'the figures and the stages\' counters are those of the newest recorded run' : 'the figures above are the newest recorded run\'s',
      run ? [' (', h('a', {href: view.link('runs', run.id)}, run.id), ')'] : null,
      summary ? ', as its summary says' : run ? '; it left no summary (still running, or killed), so the stages show no counters' : null,
      '. Live counters appear while a host runs the pipeline with --http.'));
  }
  if (!graph) {
    main.append(empty('No graph for this pipeline yet.',
      mode === 'serve' ? 'host serve draws the graph the newest recorded run ran: no run of this pipeline was recorded with its graph yet.' : 'The host did not give this pipeline\'s graph.'));
    return;
  }
  const {svg, counters, stages} = drawGraph(graph);
  const canvas = h('div', {class: 'canvas', id: 'graph-canvas'}, svg);
  const layoutBox = h('div', {class: 'pipeline-layout'}, h('div', {class: 'graph-column'}, zoomBar(svg, canvas), canvas, legend()));
  main.append(layoutBox);

  let status = null;
  const detail = new StageDetail(view, graph, () => status);
  layoutBox.append(detail.el);
  // The open stage is in the address (?stage=NAME), so the view can be bookmarked or sent.
  const remember = name => {
    const p = new URLSearchParams(view.params);
    if (name) p.set('stage', name); else p.delete('stage');
    const q = p.toString();
    history.replaceState(null, '', `#/pipeline${q ? '?' + q : ''}`);
  };
  detail.onClose = () => remember(null);
  const open = (name, byUser = true) => {
    detail.open(stages.find(st => st.name === name));
    if (byUser) remember(name);
    // On a narrow window the panel is under the graph: bring it into view.
    if (byUser && window.innerWidth <= 900) detail.el.scrollIntoView({block: 'start', behavior: 'smooth'});
  };
  svg.addEventListener('click', e => {
    const g = e.target.closest?.('g.stage');
    if (g) open(g.getAttribute('data-stage'));
  });
  svg.addEventListener('keydown', e => {
    const g = e.target.closest?.('g.stage');
    if (g && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); open(g.getAttribute('data-stage')); }
  });
  const initial = view.params.get('stage');
  if (initial && stages.some(st => st.name === initial)) open(initial, false);

  const apply = (st, isLive = true) => {
    status = st;
    if (isLive) update(st);
    for (const stage of stages) {
      const c = countersOf(st, stage);
      const map = counters.get(stage.name);
      if (!map) continue;
      for (const [key, el] of map) setCounter(el, c ? c[key] : null);
      const g = svg.querySelector(`g.stage[data-stage="${CSS.escape(stage.name)}"]`);
      if (g) g.toggleAttribute('data-failing', !!(c && c.errors > 0));
    }
    detail.refresh(st);
  };
  if (mode === 'run' && pipeline.live) view.onCleanup(live.on('status', st => apply(st)));
  else if (summary) apply(statusOfSummary(summary), false);
  view.onCleanup(() => { detail.onClose = null; detail.close(); });
}

/// The side panel of one stage (aside#stage-detail).
class StageDetail {
  constructor(view, graph, status) {
    this.view = view;
    this.graph = graph;
    this.status = status;
    this.el = h('aside', {id: 'stage-detail', hidden: true, 'aria-live': 'polite'});
    this.stage = null;
    this.fetching = false;
    this.lastFetch = 0;
  }

  open(stage) {
    if (!stage) return;
    this.stage = stage;
    const el = this.el;
    el.hidden = false;
    el.setAttribute('data-stage', stage.name);
    for (const g of document.querySelectorAll('g.stage[data-selected]')) g.removeAttribute('data-selected');
    document.querySelector(`g.stage[data-stage="${CSS.escape(stage.name)}"]`)?.setAttribute('data-selected', '');
    const props = stage.properties ?? [];
    const outgoing = this.graph.edges.filter(e => e.from === stage.name);
    clear(el).append(
      h('div', {class: 'detail-head'},
        h('div', {},
          h('div', {class: 'detail-kind', 'data-kind': stage.kind}, kindLabel(stage.kind)),
          h('h2', {class: 'detail-name'}, stage.name)),
        h('button', {type: 'button', class: 'close', 'aria-label': 'Close', onclick: () => this.close()}, '×')),
      h('dl', {class: 'facts'},
        h('dt', {}, 'Plugin'), h('dd', {'data-field': 'plugin'}, stage.plugin ?? '—'),
        h('dt', {}, 'Version'), h('dd', {'data-field': 'version'}, stage.version ?? '—'),
        h('dt', {}, 'Isolation'), h('dd', {'data-field': 'isolation'}, stage.isolation ?? '—'),
        h('dt', {}, 'Ports'), h('dd', {'data-field': 'ports'},
          portsText(stage.kind, {emitsErrors: stage.emitsErrors, emitsAlerts: stage.emitsAlerts, outputs: stage.ports})),
        h('dt', {}, 'Sends to'), h('dd', {'data-field': 'outputs'},
          outgoing.length ? outgoing.map(e => `${e.to} (${e.port})`).join(', ') : '—')),
      h('h3', {}, 'Counters'),
      h('div', {class: 'detail-counters'}, countersFor(stage).map(([key]) =>
        h('div', {class: 'stat small'}, h('div', {class: 'stat-label'}, (stage.kind === 'alertpublisher' ? PUBLISHER_LONG_LABEL : LONG_LABEL)[key]),
          h('div', {class: 'stat-value counter', 'data-counter': key, 'data-value': ''}, '—')))),
      ...(stage.kind === 'alertpublisher' ? [h('div', {class: 'delivery'})] : []),
      h('div', {class: 'extra-counters'}),
      h('h3', {}, 'Properties'),
      props.length ? table('stage-properties', ['Name', 'Value'], props.map(p =>
        h('tr', {'data-property': p.name, 'data-secret': p.secret ? 'true' : null},
          h('th', {scope: 'row'}, p.name), h('td', {class: p.secret ? 'value secret' : 'value'}, p.value))), {cards: false}) : h('p', {class: 'muted'}, 'No properties.'),
      h('h3', {}, 'Last errors'),
      h('ul', {id: 'last-errors'}));
    this.lastFetch = 0;
    this.refresh(this.status(), true);
  }

  close() {
    if (this.stage) this.onClose?.();
    this.stage = null;
    this.el.hidden = true;
    for (const g of document.querySelectorAll('g.stage[data-selected]')) g.removeAttribute('data-selected');
  }

  refresh(status, force = false) {
    if (!this.stage) return;
    const c = countersOf(status, this.stage);
    const publisher = this.stage.kind === 'alertpublisher';
    for (const [key] of countersFor(this.stage)) {
      const el = this.el.querySelector(`[data-counter="${key}"]`);
      if (el) setCounter(el, c ? c[key] : null);
    }
    if (publisher) this.showDelivery(c?.publisher ?? null);
    const {pipeline, mode} = this.view;
    if (mode !== 'run' || !pipeline.live) {
      this.showExtra(c?.counters ?? {});
      this.showErrors(null, 'Last errors are known while a host runs the pipeline (host run --http).');
      return;
    }
    // At most one fetch a second while the panel is open.
    if (this.fetching || (!force && Date.now() - this.lastFetch < 1000)) return;
    this.fetching = true;
    this.lastFetch = Date.now();
    const name = this.stage.name;
    api.getOptional(api.pipelinePath(pipeline.id, `/stages/${encodeURIComponent(name)}`))
      .then(d => {
        if (!this.stage || this.stage.name !== name) return;
        if (d?.counters) {
          // A publisher's figures are its deliveries (status.publishers), not its stage entry's records.
          if (!publisher) for (const [key] of COUNTERS) {
            const el = this.el.querySelector(`[data-counter="${key}"]`);
            if (el && d.counters[key] !== undefined) setCounter(el, d.counters[key]);
          }
          this.showExtra(d.counters.counters ?? {});
        }
        this.showErrors(d?.lastErrors ?? [], 'No errors so far.');
      })
      .catch(e => this.showErrors(null, `Could not read the stage: ${e.message}`))
      .finally(() => { this.fetching = false; });
  }

  /// The plugin's own counters (rows written, files read…).
  showExtra(extra) {
    const box = this.el.querySelector('.extra-counters');
    if (!box) return;
    const entries = Object.entries(extra && typeof extra === 'object' ? extra : {});
    box.replaceChildren(...(entries.length ? [h('div', {class: 'caption'}, `${this.stage.plugin ?? 'The plugin'}'s own`),
      h('dl', {class: 'facts'}, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {class: 'num'}, typeof v === 'number' ? integer(v) : String(v))]))] : []));
  }

  /// A publisher's delivery state beside its counters: retries, suppressed, what waits.
  showDelivery(p) {
    const box = this.el.querySelector('.delivery');
    if (!box) return;
    if (!p) { box.replaceChildren(); return; }
    const fact = (label, value) => [h('dt', {}, label), h('dd', {class: 'num'}, value)];
    box.replaceChildren(h('div', {class: 'caption'}, 'Delivery'), h('dl', {class: 'facts'},
      fact('retries', integer(p.retries)), fact('suppressed', integer(p.suppressed)),
      fact('waiting in the spool', integer(p.waiting)), fact('failing since', p.failingSinceMs ? time(p.failingSinceMs) : '—'),
      p.lastError ? fact('last error', p.lastError) : null));
  }

  showErrors(list, note) {
    const ul = this.el.querySelector('#last-errors');
    if (!ul) return;
    if (!list || !list.length) { ul.replaceChildren(h('li', {class: 'muted none'}, note)); return; }
    ul.replaceChildren(...list.map(e => h('li', {'data-kind': e.kind},
      h('div', {class: 'error-meta'}, h('span', {class: 'badge', 'data-badge': e.kind}, e.kind), ' batch ', integer(e.batch), ' · ', time(e.atMs)),
      h('div', {class: 'error-message'}, e.message ?? ''))));
  }
}
