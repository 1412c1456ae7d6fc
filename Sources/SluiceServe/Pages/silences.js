// The silences page: the silences of the pipeline's store (the same as `host silence`),
// a form to add one (matchers one per line, a duration or an end, a comment, an author),
// and expire buttons. Writes carry the CSRF header (api.post).
import * as api from './api.js';
import {h, empty, table, badge, panel} from './dom.js';
import {time, parseTime} from './format.js';

function matcherText(m) {
  if (typeof m === 'string') return m;
  return `${m.name ?? '?'}${m.op ?? '='}${m.value ?? ''}`;
}

function form(view, reload) {
  const message = h('div', {id: 'silence-message', role: 'status', 'aria-live': 'polite'});
  const f = h('form', {id: 'silence-form', novalidate: true},
    h('label', {for: 'silence-matchers'}, 'Matchers', h('span', {class: 'hint'}, 'one per line: name=value, name!=value, name=~regex, name!~regex')),
    h('textarea', {id: 'silence-matchers', name: 'matchers', rows: 4, required: true, spellcheck: 'false',
      placeholder: 'stage=check\nstore_id=~store[12]'}),
    h('div', {class: 'form-row'},
      h('div', {},
        h('label', {for: 'silence-duration'}, 'For', h('span', {class: 'hint'}, 'e.g. 30m, 2h, 1d')),
        h('input', {id: 'silence-duration', name: 'duration', type: 'text', placeholder: '2h', autocomplete: 'off'})),
      h('div', {},
        h('label', {for: 'silence-until'}, 'or until', h('span', {class: 'hint'}, 'ISO-8601')),
        h('input', {id: 'silence-until', name: 'until', type: 'text', placeholder: '2026-12-06T18:00:00Z', autocomplete: 'off'}))),
    h('label', {for: 'silence-comment'}, 'Comment'),
    h('input', {id: 'silence-comment', name: 'comment', type: 'text', placeholder: 'maintenance of store 12', autocomplete: 'off'}),
    h('label', {for: 'silence-author'}, 'Author'),
    h('input', {id: 'silence-author', name: 'author', type: 'text', placeholder: 'your name', autocomplete: 'nickname'}),
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'primary'}, 'Add silence')),
    message);
  const author = f.querySelector('[name=author]');
  try { author.value = localStorage.getItem('sluice.author') ?? ''; } catch { /* storage off */ }
  f.addEventListener('submit', async e => {
    e.preventDefault();
    const field = n => f.querySelector(`[name=${n}]`).value.trim();
    const matchers = f.querySelector('[name=matchers]').value.split('\n').map(l => l.trim()).filter(Boolean);
    const body = {matchers, duration: field('duration') || null, until: field('until') || null, start: null,
      comment: field('comment'), author: field('author')};
    const button = f.querySelector('button[type=submit]');
    button.disabled = true;
    message.removeAttribute('data-outcome');
    message.replaceChildren('Adding…');
    try {
      const answer = await api.post(api.pipelinePath(view.pipeline.id, '/silences'), body);
      try { localStorage.setItem('sluice.author', body.author); } catch { /* storage off */ }
      f.querySelector('[name=matchers]').value = '';
      f.querySelector('[name=comment]').value = '';
      // The outcome once the list shows it (a test or a person can read both at once).
      await reload(answer.id).catch(() => {});
      message.setAttribute('data-outcome', 'ok');
      message.replaceChildren('Added silence ', h('code', {}, answer.id ?? '?'), '.');
    } catch (err) {
      message.setAttribute('data-outcome', 'error');
      message.replaceChildren(h('strong', {}, err.message ?? String(err)),
        err.problems?.length ? h('ul', {class: 'problems'}, err.problems.map(p => h('li', {}, p))) : null);
    } finally {
      button.disabled = false;
    }
  });
  return f;
}

function list(view, silences, reload, note) {
  if (!silences.length) return empty('No silences.', 'Add one with the form: alerts whose labels match every matcher are not notified while it is active.');
  return table('silences', ['State', 'Matchers', 'Starts', 'Ends', 'Comment', 'Author', ''],
    silences.map(sl => {
      const expire = sl.state === 'expired' ? null : h('button', {type: 'button', class: 'small', 'data-action': 'expire'}, 'Expire');
      expire?.addEventListener('click', async () => {
        expire.disabled = true;
        try {
          await api.post(api.pipelinePath(view.pipeline.id, `/silences/${encodeURIComponent(sl.id)}/expire`), {});
          await reload().catch(() => {});
          note('ok', `Expired silence ${sl.id}.`);
        } catch (err) {
          expire.disabled = false;
          note('error', `Could not expire ${sl.id}: ${err.message}`, err.problems);
        }
      });
      return h('tr', {'data-silence': sl.id, 'data-state': sl.state},
        h('td', {}, badge(sl.state), h('div', {class: 'muted mono small silence-id'}, sl.id)),
        h('td', {}, h('div', {class: 'chips'}, (sl.matchers ?? []).map(m => h('code', {class: 'chip'}, matcherText(m))))),
        h('td', {}, time(parseTime(sl.startsAt))),
        h('td', {}, time(parseTime(sl.endsAt))),
        h('td', {class: 'wrap'}, sl.comment ?? ''),
        h('td', {}, sl.author ?? ''),
        h('td', {}, expire));
    }));
}

export async function render(view) {
  const {main, pipeline, params} = view;
  if (!pipeline) { main.append(empty('No pipeline to show.', 'host serve --state DIR shows the pipelines whose state folders it is given.')); return; }
  const all = params.get('all') === '1';
  const holder = panel('Silences', {id: 'silences-panel'});
  const message = () => main.querySelector('#silence-message');
  const note = (outcome, text, problems) => {
    const m = message();
    if (!m) return;
    m.setAttribute('data-outcome', outcome);
    m.replaceChildren(text, problems?.length ? h('ul', {class: 'problems'}, problems.map(p => h('li', {}, p))) : null);
  };
  const reload = async highlight => {
    const data = await api.get(api.pipelinePath(pipeline.id, `/silences${all ? '?all=1' : ''}`));
    const rows = list(view, data.silences ?? [], reload, note);
    holder.querySelector('.table-wrap, .empty')?.remove();
    holder.append(rows);
    if (highlight) holder.querySelector(`tr[data-silence="${CSS.escape(highlight)}"]`)?.setAttribute('data-new', '');
  };
  const toggle = h('a', {class: 'button-link', href: `#/silences?${new URLSearchParams({...(view.pipelines.length > 1 ? {pipeline: pipeline.id} : {}), ...(all ? {} : {all: '1'})})}`},
    all ? 'Hide expired' : 'Show expired');
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Silences'),
    h('span', {class: 'muted'}, 'the same store as host silence'), h('span', {class: 'spacer'}), toggle));
  main.append(h('div', {class: 'split'}, panel('New silence', {id: 'silence-new'}, form(view, reload)), holder));
  await reload();
}
