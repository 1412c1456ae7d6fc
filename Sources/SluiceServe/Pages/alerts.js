// The alerts page: incidents (firing, resolved) with their life, the recent alerts with
// their payloads (as text), and each publisher's delivery state.
import * as api from './api.js';
import {h, empty, table, badge, panel} from './dom.js';
import {integer, bytes, time, absolute} from './format.js';

function payloadText(envelope) {
  if (envelope === null || envelope === undefined) return '';
  const payload = envelope.payload ?? envelope;
  try { return JSON.stringify(payload, null, 1); } catch { return String(payload); }
}

function incidents(view, list, openOnly) {
  if (!list) return empty('No incident history.', 'Incidents are read from the history (history.sqlite): is history off (--no-history)?');
  if (!list.length) return empty(openOnly ? 'Nothing is firing.' : 'No incidents recorded.',
    'An incident opens when a stage raises an alert for a new key and resolves when it stops.');
  const head = (text, title) => h('th', {scope: 'col', title}, text);
  // The incident id is what a receiver (Alertmanager, PagerDuty) deduplicates on: one per life
  // of a key, so two incidents of one store have two ids (and one key, in the title).
  return table('incidents', ['State', 'Stage', 'Subject',  'Severity',
    head('Starts', 'when it began, in the alerts\' time (event time for a window on an event-time field)'),
    head('Last seen', 'the host\'s clock when it was last told'),
    head('Ends', 'when it was resolved, in the alerts\' time'), 'Notified', 'Runs'],
    list.map(i => h('tr', {'data-incident': i.incident ?? i.key, 'data-state': i.state},
      h('td', {}, badge(i.state)),
      h('td', {}, i.stage ?? '—'),
      h('td', {class: 'wrap'}, h('div', {}, i.subject ?? '—'),
        i.incident ? h('div', {class: 'muted small id-line', title: i.key ? `key ${i.key}` : null},
          'incident ', h('span', {class: 'mono', 'data-field': 'incident'}, i.incident)) : null),
      h('td', {}, i.severity ? h('span', {class: 'sev', 'data-severity': i.severity}, i.severity) : '—'),
      h('td', {}, time(i.openedMs)),
      h('td', {}, time(i.lastSeenMs)),
      h('td', {}, i.resolvedMs ? time(i.resolvedMs) : h('span', {class: 'muted'}, '—')),
      h('td', {class: 'num'}, integer(i.notifications)),
      h('td', {class: 'mono small'}, i.firstRun === i.lastRun ? (i.firstRun ?? '—') : `${i.firstRun ?? '?'} → ${i.lastRun ?? '?'}`))));
}

function alerts(list) {
  if (!list) return empty('No alert history.', 'Alerts sent are read from the history (history.sqlite): is history off (--no-history)?');
  if (!list.length) return empty('No alerts sent yet.', 'Stages with an alert port send their alerts to the publishers connected to it.');
  return table('alerts', ['Sent', 'Stage', 'Status', 'Severity', 'Publisher', 'Outcome', 'Payload'],
    list.map(a => h('tr', {'data-alert-id': a.id ?? '', 'data-outcome': a.outcome ?? ''},
      h('td', {}, time(a.atMs), h('div', {class: 'muted small'}, `run ${a.run ?? '?'} · batch ${a.batch ?? '?'}`)),
      h('td', {}, a.stage ?? '—'),
      h('td', {}, badge(a.status)),
      h('td', {}, a.severity ? h('span', {class: 'sev', 'data-severity': a.severity}, a.severity) : '—'),
      h('td', {}, a.publisher ?? '—'),
      h('td', {title: a.reason ?? null}, a.outcome ?? '—', a.attempts > 1 ? h('span', {class: 'muted'}, ` (${a.attempts} attempts)`) : null,
        a.reason ? h('div', {class: 'muted small wrap'}, a.reason) : null),
      h('td', {class: 'payload'}, h('pre', {}, payloadText(a.envelope))))));
}

function publishers(list, mode) {
  if (!list) return empty('No publisher state.', 'This pipeline has no alert publishers, or its spool folder is unknown.');
  if (!list.length) return empty('No alert publishers.', 'Connect a stage\'s alert port to an alert publisher to deliver alerts.');
  const spool = p => {
    if (p.spoolBytes === null || p.spoolBytes === undefined) return '—';
    if (!p.spoolLimitBytes) return bytes(p.spoolBytes);
    const pct = Math.min(100, (100 * p.spoolBytes) / p.spoolLimitBytes);
    const bar = h('span', {class: 'meter'}, h('span', {class: 'meter-fill', 'data-level': pct > 80 ? 'high' : pct > 50 ? 'mid' : 'low'}));
    bar.firstChild.style.width = `${pct.toFixed(1)}%`;
    return [bar, ` ${bytes(p.spoolBytes)} / ${bytes(p.spoolLimitBytes)}`];
  };
  return table('publishers', ['Publisher', 'Received', 'Published', 'Failed', 'Retries', 'Suppressed', 'Waiting', 'Spool', 'Failing since', 'Next retry', 'Last error'],
    list.map(p => h('tr', {'data-publisher': p.name, 'data-failing': p.failingSinceMs ? 'true' : null},
      h('td', {}, h('div', {}, p.name), p.plugin ? h('div', {class: 'muted small'}, p.plugin) : null),
      h('td', {class: 'num'}, integer(p.received)),
      h('td', {class: 'num'}, integer(p.published)),
      h('td', {class: 'num'}, integer(p.failed)),
      h('td', {class: 'num'}, integer(p.retries)),
      h('td', {class: 'num'}, integer(p.suppressed)),
      h('td', {class: 'num'}, integer(p.waiting)),
      h('td', {class: 'spool'}, spool(p)),
      h('td', {}, p.failingSinceMs ? time(p.failingSinceMs) : h('span', {class: 'muted'}, mode === 'serve' ? '—' : 'no')),
      h('td', {}, p.nextRetryMs ? time(p.nextRetryMs) : '—'),
      h('td', {class: 'wrap small'}, p.lastError ?? ''))));
}

export async function render(view) {
  const {main, pipeline, mode, params, live} = view;
  if (!pipeline) { main.append(empty('No pipeline to show.', 'host serve --state DIR shows the pipelines whose state folders it is given.')); return; }
  const openOnly = params.get('open') === '1';
  const base = api.pipelinePath(pipeline.id, '');
  const [inc, al, pub] = await Promise.all([
    api.getOptional(`${base}/incidents?limit=200${openOnly ? '&open=1' : ''}`),
    api.getOptional(`${base}/alerts?limit=100`),
    api.getOptional(`${base}/publishers`),
  ]);
  if (!view.current()) return;
  const firing = (inc?.incidents ?? []).filter(i => i.state === 'firing').length;
  const toggle = h('a', {class: 'button-link', href: `#/alerts?${new URLSearchParams({...(view.pipelines.length > 1 ? {pipeline: pipeline.id} : {}), ...(openOnly ? {} : {open: '1'})})}`},
    openOnly ? 'Show resolved too' : 'Firing only');
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Alerts & incidents'),
    h('span', {class: 'pill', 'data-state': firing ? 'firing' : 'ok'}, firing ? `${firing} firing` : 'nothing firing'),
    h('span', {class: 'spacer'}), h('a', {class: 'button-link', href: view.link('silences')}, 'Silences'), toggle));
  const incPanel = panel('Incidents', {id: 'incidents-panel'}, incidents(view, inc?.incidents ?? (inc ? [] : null), openOnly));
  const pubPanel = panel('Publishers', {id: 'publishers-panel'}, publishers(pub?.publishers ?? (pub ? [] : null), mode));
  const alPanel = panel('Recent alerts', {id: 'alerts-panel'}, alerts(al?.alerts ?? (al ? [] : null)));
  main.append(incPanel, pubPanel, alPanel);
  if (mode === 'run' && pipeline.live) {
    // While the run goes on, incidents and alerts are read again every 10 s.
    const swap = (p, node) => p.querySelector(':scope > .table-wrap, :scope > .empty')?.replaceWith(node);
    const timer = setInterval(async () => {
      const [i2, a2] = await Promise.all([
        api.getOptional(`${base}/incidents?limit=200${openOnly ? '&open=1' : ''}`).catch(() => undefined),
        api.getOptional(`${base}/alerts?limit=100`).catch(() => undefined),
      ]);
      if (!view.current()) return;
      if (i2 !== undefined) swap(incPanel, incidents(view, i2?.incidents ?? (i2 ? [] : null), openOnly));
      if (a2 !== undefined) swap(alPanel, alerts(a2?.alerts ?? (a2 ? [] : null)));
    }, 10000);
    view.onCleanup(() => clearInterval(timer));
    // Publisher counters follow the live status.
    view.onCleanup(live.on('status', st => {
      if (!Array.isArray(st.publishers) || !view.current()) return;
      const fresh = publishers(st.publishers, mode);
      pubPanel.querySelector(':scope > .table-wrap, :scope > .empty')?.replaceWith(fresh);
    }));
  }
}
