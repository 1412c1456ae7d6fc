// The runs page: the history table, and one run's details (its summary and batches).
import * as api from './api.js';
import {h, empty, table, badge, panel} from './dom.js';
import {count, integer, duration, time, absolute, tickDuration} from './format.js';
import {chart} from './charts.js';

function alertsText(a) {
  if (!a || typeof a !== 'object') return '—';
  const parts = [];
  for (const k of ['emitted', 'published', 'suppressed', 'failed']) if (a[k]) parts.push(`${integer(a[k])} ${k}`);
  return parts.length ? parts.join(', ') : '0';
}

const noHistory = mode => empty('No runs recorded yet.', mode === 'serve'
  ? 'This state folder has no history.sqlite: was the pipeline run with --no-history? Run it once with history on and its runs appear here.'
  : 'This host records runs in <state folder>/history.sqlite unless it runs with --no-history; the current run appears once it is under way.');

export async function render(view) {
  const {main, pipeline, arg, mode} = view;
  if (!pipeline) { main.append(empty('No pipeline to show.', 'host serve --state DIR shows the pipelines whose state folders it is given.')); return; }
  if (arg) return detail(view, arg);
  const data = await api.getOptional(api.pipelinePath(pipeline.id, '/runs?limit=200'));
  if (!view.current()) return;
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Runs'), h('span', {class: 'muted'}, 'newest first')));
  const runs = data?.runs ?? [];
  if (!runs.length) { main.append(noHistory(mode)); return; }
  const rows = runs.map(r => {
    const tr = h('tr', {'data-run': r.id, 'data-status': r.status ?? '', class: 'clickable', tabindex: 0},
      h('td', {}, h('a', {href: view.link('runs', r.id), class: 'mono'}, r.id)),
      h('td', {}, badge(r.status)),
      h('td', {}, time(r.startedMs)),
      h('td', {class: 'num'}, r.endedMs && r.startedMs ? duration(r.endedMs - r.startedMs) : r.endedMs ? '—' : 'running'),
      h('td', {class: 'num'}, integer(r.batches)),
      h('td', {class: 'num', title: integer(r.recordsIn)}, count(r.recordsIn)),
      h('td', {class: 'num', title: integer(r.recordsOut)}, count(r.recordsOut)),
      h('td', {class: 'num'}, integer(r.errors)),
      h('td', {}, alertsText(r.alerts)),
      h('td', {class: 'num'}, r.exitCode ?? '—'),
      h('td', {class: 'wrap note'}, r.failure ?? (r.resumedAfter ? `resumed after ${r.resumedAfter}` : '')));
    const go = () => { location.hash = view.link('runs', r.id); };
    tr.addEventListener('click', e => { if (!e.target.closest('a')) go(); });
    tr.addEventListener('keydown', e => { if (e.key === 'Enter') go(); });
    return tr;
  });
  main.append(panel(`${runs.length} run${runs.length === 1 ? '' : 's'}`, {},
    table('runs', ['Run', 'Status', 'Started', 'Took', 'Batches', 'In', 'Out', 'Errors', 'Alerts', 'Exit', 'Note'], rows)));
}

async function detail(view, id) {
  const {main, pipeline} = view;
  const back = h('a', {href: view.link('runs'), class: 'back'}, '← All runs');
  const data = await api.getOptional(api.pipelinePath(pipeline.id, `/runs/${encodeURIComponent(id)}`));
  if (!view.current()) return;
  main.append(h('div', {class: 'page-head'}, back, h('h1', {class: 'mono'}, `Run ${id}`)));
  if (!data) { main.append(empty('No such run in this pipeline\'s history.', 'Pick one from the list of runs.')); return; }
  const run = data.run && typeof data.run === 'object' ? data.run : data;
  const summary = data.summary ?? null;
  const batches = Array.isArray(data.batches) ? data.batches : [];
  const section = h('section', {id: 'run-detail', 'data-run': id});
  const fact = (label, value, title) => [h('dt', {}, label), h('dd', {title: title ?? null}, value)];
  section.append(h('div', {class: 'stats'},
    [['Status', badge(run.status)], ['Started', time(run.startedMs)], ['Took', run.endedMs && run.startedMs ? duration(run.endedMs - run.startedMs) : run.endedMs ? '—' : 'running'],
      ['Batches', integer(typeof run.batches === 'number' ? run.batches : batches.length)], ['Records in', count(run.recordsIn)], ['Records out', count(run.recordsOut)],
      ['Errors', integer(run.errors)], ['Exit code', run.exitCode ?? '—']]
      .map(([label, value]) => h('div', {class: 'stat'}, h('div', {class: 'stat-label'}, label), h('div', {class: 'stat-value'}, value)))));
  section.append(panel('Run', {},
    h('dl', {class: 'facts wide'},
      fact('Started', absolute(run.startedMs)), fact('Ended', run.endedMs ? absolute(run.endedMs) : '—'),
      fact('Alerts', alertsText(run.alerts)), fact('Failure', run.failure ?? '—'),
      fact('Resumed after', run.resumedAfter ?? '—'), fact('Host', run.hostVersion ?? '—'))));
  if (batches.length) {
    const width = Math.max(300, Math.min(1200, main.clientWidth - 40));
    section.append(panel('Batch duration', {},
      chart({kind: 'run-duration', title: `Batch duration of run ${id}`, width, height: 160, labels: batches.map(b => b.batch),
        series: [{name: 'duration', cls: 's-duration', type: 'bar', values: batches.map(b => b.durationMs)}],
        format: tickDuration, tip: i => `batch ${batches[i].batch}: ${duration(batches[i].durationMs)}, ${integer(batches[i].records)} records`})));
    section.append(panel(`Batches (${batches.length})`, {},
      table('run-batches', ['Batch', 'Ended', 'Duration', 'Records', 'Errors', 'Input/s', 'Processed/s', 'Alerts'],
        batches.slice().reverse().map(b => h('tr', {'data-batch': b.batch},
          h('td', {class: 'num'}, integer(b.batch)), h('td', {}, time(b.endedMs)), h('td', {class: 'num'}, duration(b.durationMs)),
          h('td', {class: 'num'}, integer(b.records)), h('td', {class: 'num'}, integer(b.errors)),
          h('td', {class: 'num'}, count(b.inputRowsPerSecond)), h('td', {class: 'num'}, count(b.processedRowsPerSecond)),
          h('td', {}, alertsText(b.alerts)))), {cards: false})));
  } else {
    section.append(empty('No batches recorded for this run.', 'A run that stopped before its first batch has none.'));
  }
  if (summary) {
    section.append(panel('Summary (as host run --summary-json wrote it)', {},
      h('pre', {class: 'json', id: 'run-summary'}, JSON.stringify(summary, null, 2))));
  }
  main.append(section);
}
