// The dashboard's shell: hash routes (/#/pipeline?pipeline=ID, /#/runs/RUN, …), the pipeline
// picker, the live feed, and each page's module drawing into <main>.
import * as api from './api.js';
import {h, clear} from './dom.js';
import {tick} from './format.js';
import {Live} from './live.js';
import * as pipelinePage from './pipeline.js';
import * as batchesPage from './batches.js';
import * as runsPage from './runs.js';
import * as alertsPage from './alerts.js';
import * as silencesPage from './silences.js';
import * as catalogPage from './catalog.js';

const pages = {pipeline: pipelinePage, batches: batchesPage, runs: runsPage, alerts: alertsPage,
  silences: silencesPage, catalog: catalogPage};

const state = {mode: null, host: null, pipelines: [], pipeline: null, cleanups: [], generation: 0};
const live = new Live(document.getElementById('live-status'));

/// "#/runs/ABC?pipeline=x" → {page: 'runs', arg: 'ABC', params}.
function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(p => { try { return decodeURIComponent(p); } catch { return p; } });
  const page = Object.hasOwn(pages, parts[0] ?? '') ? parts[0] : 'pipeline';
  return {page, arg: parts[1] ?? null, params: new URLSearchParams(query ?? '')};
}

/// A link to `page` (with arg) for the pipeline shown.
export function link(page, arg) {
  const q = state.pipeline && state.pipelines.length > 1 ? `?pipeline=${encodeURIComponent(state.pipeline.id)}` : '';
  return `#/${page}${arg ? '/' + encodeURIComponent(arg) : ''}${q}`;
}

function updateChrome(page) {
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    const p = a.getAttribute('data-page');
    a.setAttribute('href', link(p));
    if (p === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const select = document.getElementById('pipeline-select');
  select.closest('label').hidden = state.pipelines.length < 2;
  if (state.pipeline) select.value = state.pipeline.id;
  const name = document.getElementById('pipeline-name');
  name.textContent = state.pipelines.length === 1 && state.pipeline ? state.pipeline.name : '';
  name.title = state.pipeline ? `namespace ${state.pipeline.namespace}` : '';
  document.title = `${page[0].toUpperCase()}${page.slice(1)} · ${state.pipeline?.name ?? 'Sluice'}`;
}

async function show() {
  const {page, arg, params} = route();
  const wanted = params.get('pipeline');
  state.pipeline = state.pipelines.find(p => p.id === wanted) ?? state.pipelines[0] ?? null;
  for (const fn of state.cleanups.splice(0)) { try { fn(); } catch { /* ignore */ } }
  const generation = ++state.generation;
  updateChrome(page);
  live.follow(state.pipeline, state.mode);

  const old = document.querySelector('main');
  const main = h('main', {'data-page': page});
  old.replaceWith(main);
  const view = {
    main, arg, params, live, mode: state.mode, pipeline: state.pipeline, pipelines: state.pipelines, link,
    current: () => generation === state.generation,
    onCleanup: fn => state.cleanups.push(fn),
  };
  try {
    await pages[page].render(view);
    if (view.current()) main.setAttribute('data-ready', 'true');
  } catch (e) {
    if (!view.current()) return;
    console.warn(e);
    main.setAttribute('data-error', e.message ?? String(e));
    main.append(h('div', {class: 'error-box', role: 'alert'},
      h('strong', {}, 'Could not load this page: '), e.message ?? String(e)));
    main.setAttribute('data-ready', 'true');
  }
}

/// Back to the page asked for before signing in (login.js kept it).
function resumeAfterLogin() {
  let next = null;
  try { next = sessionStorage.getItem('sluice.after-login'); sessionStorage.removeItem('sluice.after-login'); } catch { return; }
  if (next && next.startsWith('#/') && (location.hash === '' || location.hash === '#')) history.replaceState(null, '', next);
}

async function start() {
  resumeAfterLogin();
  try {
    const info = await api.get('/api/v1/pipelines');
    state.mode = info.mode;
    state.host = info.host;
    state.pipelines = Array.isArray(info.pipelines) ? info.pipelines : [];
  } catch (e) {
    const main = document.querySelector('main');
    main.setAttribute('data-error', e.message);
    clear(main).append(h('div', {class: 'error-box', role: 'alert'}, h('strong', {}, 'The host does not answer: '), e.message));
    document.getElementById('live-status').setAttribute('data-state', 'disconnected');
    return;
  }
  document.getElementById('host-version').textContent =
    `Sluice host ${state.host ?? ''} · ${state.mode === 'serve' ? 'host serve (history)' : 'host run (live)'}`;
  const select = document.getElementById('pipeline-select');
  select.replaceChildren(...state.pipelines.map(p => h('option', {value: p.id}, p.name === p.id ? p.name : `${p.name} (${p.id})`)));
  select.addEventListener('change', () => {
    const {page, arg} = route();
    location.hash = `#/${page}${arg ? '/' + encodeURIComponent(arg) : ''}?pipeline=${encodeURIComponent(select.value)}`;
  });
  window.addEventListener('hashchange', show);
  setInterval(() => tick(), 15000);
  await show();
}

start();
