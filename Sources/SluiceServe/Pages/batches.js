// The batches page: the last N batches as four charts — duration (with the batch SLA),
// records (and errors), input vs processing rate, alerts — live while the run goes on.
import * as api from './api.js';
import {h, empty, panel} from './dom.js';
import {count, duration, rate, integer, absolute, tickCount, tickDuration} from './format.js';
import {chart} from './charts.js';

const LIMITS = [30, 120, 500, 1000];

function percentile(values, p) {
  const v = values.filter(x => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!v.length) return null;
  return v[Math.min(v.length - 1, Math.floor(p * v.length))];
}

export async function render(view) {
  const {main, pipeline, mode, live, params} = view;
  if (!pipeline) { main.append(empty('No pipeline to show.', 'Start the host with a pipeline: host run PIPELINE --http 127.0.0.1:9464')); return; }
  const limit = LIMITS.includes(Number(params.get('limit'))) ? Number(params.get('limit')) : 120;
  const run = params.get('run');
  const q = `?limit=${limit}${run ? `&run=${encodeURIComponent(run)}` : ''}`;
  let data = await api.getOptional(api.pipelinePath(pipeline.id, `/batches${q}`));
  // Not live, the newest recorded run may have ended before its first batch (a restart with
  // nothing to read): the newest run that has batches is shown instead, and says so.
  let newerEmpty = false;
  const isLive = mode === 'run' && pipeline.live;
  if (!isLive && !run && data && Array.isArray(data.batches) && !data.batches.length) {
    const runs = await api.getOptional(api.pipelinePath(pipeline.id, '/runs?limit=50')).catch(() => null);
    const withBatches = (runs?.runs ?? []).find(r => r.batches > 0);
    if (withBatches) {
      const older = await api.getOptional(api.pipelinePath(pipeline.id, `/batches?limit=${limit}&run=${encodeURIComponent(withBatches.id)}`)).catch(() => null);
      if (older) { data = older; newerEmpty = true; }
    }
  }
  if (!view.current()) return;

  const picker = h('select', {id: 'batch-limit', 'aria-label': 'How many batches'},
    LIMITS.map(n => h('option', {value: n, selected: n === limit}, `last ${n}`)));
  picker.addEventListener('change', () => {
    const p = new URLSearchParams(params);
    p.set('limit', picker.value);
    if (view.pipelines.length > 1) p.set('pipeline', pipeline.id);
    location.hash = `#/batches?${p}`;
  });
  const runNote = h('span', {class: 'muted', id: 'batches-run'});
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Batches'), runNote, h('span', {class: 'spacer'}), picker));
  if (!data) {
    main.append(empty('No batches to show.', mode === 'serve'
      ? 'host serve shows the batches of recorded runs: this pipeline has no history (was it run with --no-history?).'
      : 'The run has not finished a batch yet — drop some input and they appear here.'));
    return;
  }
  let batches = Array.isArray(data.batches) ? data.batches : [];
  const sla = data.slaBatchMs ?? null;
  if (data.run) {
    runNote.replaceChildren('run ', h('a', {href: view.link('runs', data.run), class: 'mono'}, data.run),
      run ? '' : isLive ? ' (this run)' : newerEmpty ? ' (the newest recorded run with batches: the newer ones had none)' : ' (the newest recorded)');
  }

  const stats = h('div', {class: 'stats', id: 'batch-stats'});
  const grid = h('div', {class: 'chart-grid'});
  const box = h('div', {});
  main.append(stats, box);

  const panels = {
    duration: panel('Batch duration', {'data-panel': 'duration'}),
    records: panel('Records per batch', {'data-panel': 'records'}),
    rates: panel('Input vs processing rate', {'data-panel': 'rates'}),
    alerts: panel('Alerts per batch', {'data-panel': 'alerts'}),
  };
  Object.values(panels).forEach(p => grid.append(p));

  const legendOf = items => h('div', {class: 'chart-legend'},
    items.map(([cls, text]) => h('span', {class: 'legend-item'}, h('span', {class: `legend-swatch ${cls}`}), text)));

  const draw = () => {
    if (!batches.length) {
      box.replaceChildren(empty('No batches yet.', mode === 'run'
        ? 'The run has not finished a batch yet — drop some input and they appear here live.'
        : 'The recorded run has no batches.'));
      stats.replaceChildren();
      return;
    }
    if (!box.contains(grid)) box.replaceChildren(grid);
    const labels = batches.map(b => b.batch);
    const tip = i => {
      const b = batches[i];
      return `batch ${b.batch} · ${absolute(b.endedMs)}\nduration ${duration(b.durationMs)}\nrecords ${integer(b.records)}, errors ${integer(b.errors)}\n`
        + `input ${rate(b.inputRowsPerSecond)}, processing ${rate(b.processedRowsPerSecond)}\n`
        + `alerts ${integer(b.alerts?.emitted)} emitted, ${integer(b.alerts?.published)} published`;
    };
    const width = Math.floor((grid.querySelector('.panel')?.clientWidth || 600) - 26);
    const durations = batches.map(b => b.durationMs);
    const put = (key, svg, legend) => {
      const p = panels[key];
      p.querySelector('svg.chart')?.remove();
      p.querySelector('.chart-legend')?.remove();
      p.append(svg);
      if (legend) p.append(legend);
    };
    put('duration', chart({kind: 'duration', title: `Batch duration, last ${batches.length} batches${sla ? `, SLA ${duration(sla)}` : ''}`, width, labels, tip,
      series: [{name: 'duration', cls: 's-duration', type: 'bar', values: durations, classOf: v => (sla && v > sla ? 'over' : null)}],
      rules: sla ? [{value: sla, cls: 'sla', label: `SLA ${duration(sla)}`}] : [], format: tickDuration}),
    legendOf([['s-duration', 'duration'], ...(sla ? [['s-over', 'over the SLA'], ['line-sla', 'batch SLA']] : [])]));
    put('records', chart({kind: 'records', title: 'Records and errors per batch', width, labels, tip, stacked: true,
      series: [{name: 'records', cls: 's-records', type: 'bar', values: batches.map(b => Math.max(0, (b.records ?? 0) - (b.errors ?? 0)))},
        {name: 'errors', cls: 's-errors', type: 'bar', values: batches.map(b => b.errors ?? 0)}], format: tickCount, integer: true}),
    legendOf([['s-records', 'records'], ['s-errors', 'errors']]));
    put('rates', chart({kind: 'rates', title: 'Input rate vs processing rate (records/s)', width, labels, tip,
      series: [{name: 'input', cls: 's-input', type: 'line', values: batches.map(b => b.inputRowsPerSecond)},
        {name: 'processing', cls: 's-processing', type: 'line', values: batches.map(b => b.processedRowsPerSecond)}], format: tickCount}),
    legendOf([['s-input', 'input rows/s'], ['s-processing', 'processed rows/s']]));
    put('alerts', chart({kind: 'alerts', title: 'Alerts per batch: published, suppressed, failed', width, labels, tip, stacked: true,
      series: [{name: 'published', cls: 's-published', type: 'bar', values: batches.map(b => b.alerts?.published ?? 0)},
        {name: 'suppressed', cls: 's-suppressed', type: 'bar', values: batches.map(b => b.alerts?.suppressed ?? 0)},
        {name: 'failed', cls: 's-failed', type: 'bar', values: batches.map(b => b.alerts?.failed ?? 0)}], format: tickCount, integer: true}),
    legendOf([['s-published', 'published'], ['s-suppressed', 'suppressed'], ['s-failed', 'failed']]));

    const over = sla ? durations.filter(d => d > sla).length : null;
    const stat = (label, value, title, state) => h('div', {class: 'stat', 'data-state': state ?? null, title: title ?? null},
      h('div', {class: 'stat-label'}, label), h('div', {class: 'stat-value'}, value));
    stats.replaceChildren(
      stat('Batches shown', integer(batches.length), `batches ${labels[0]}–${labels.at(-1)}`),
      stat('Median duration', duration(percentile(durations, 0.5))),
      stat('p95 duration', duration(percentile(durations, 0.95))),
      stat('Batch SLA', sla ? duration(sla) : 'not set', sla ? null : 'the pipeline sets no batch SLA (slaBatchMs)'),
      stat('Over the SLA', over === null ? '—' : integer(over), null, over ? 'warn' : null),
      stat('Records', count(batches.reduce((a, b) => a + (b.records ?? 0), 0))));
  };
  draw();

  // The events carry the newest batch of each second: when batches come faster, the ones
  // between are read again from the API (once a second at most), so no chart has gaps.
  let timer = null, missing = false;
  const later = () => {
    if (timer) return;
    timer = setTimeout(async () => {
      timer = null;
      if (!view.current()) return;
      if (missing) {
        missing = false;
        const fresh = await api.getOptional(api.pipelinePath(pipeline.id, `/batches?limit=${limit}`)).catch(() => null);
        if (fresh?.batches && view.current()) batches = fresh.batches;
      }
      if (view.current()) draw();
    }, 1000);
  };
  if (mode === 'run' && pipeline.live && !run) {
    view.onCleanup(live.on('batch', b => {
      if (!b || typeof b.batch !== 'number') return;
      const last = batches.at(-1)?.batch;
      if (last !== undefined && b.batch > last + 1) missing = true;
      batches = batches.filter(x => x.batch !== b.batch).concat([b]).sort((a, c) => a.batch - c.batch).slice(-limit);
      later();
    }));
  }
  const ro = new ResizeObserver(() => later());
  ro.observe(grid);
  view.onCleanup(() => { ro.disconnect(); clearTimeout(timer); });
}
