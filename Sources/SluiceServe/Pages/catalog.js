// The catalog page: every plugin the host would load (type, version, alert capability,
// ports, properties from its widgets file) and the libraries it refused, with reasons.
import * as api from './api.js';
import {h, empty, table, panel} from './dom.js';
import {portsText} from './format.js';

function properties(p) {
  const list = p.properties ?? [];
  if (!list.length) return h('span', {class: 'muted'}, 'none');
  return h('details', {},
    h('summary', {}, `${list.length} propert${list.length === 1 ? 'y' : 'ies'}`),
    h('ul', {class: 'props'}, list.map(q => h('li', {'data-property': q.name},
      h('code', {}, q.name), ' ', h('span', {class: 'muted'}, q.typeSummary ?? q.type ?? ''),
      q.required ? h('span', {class: 'tag'}, 'required') : null,
      q.secret ? h('span', {class: 'tag secret'}, 'secret') : null,
      q.default !== null && q.default !== undefined ? h('span', {class: 'muted'}, ` default ${typeof q.default === 'string' ? q.default : JSON.stringify(q.default)}`) : null,
      q.description ? h('div', {class: 'muted small'}, q.description) : null))));
}

export async function render(view) {
  const {main} = view;
  const data = await api.get('/api/v1/catalog');
  if (!view.current()) return;
  const plugins = Array.isArray(data.plugins) ? data.plugins : [];
  const problems = Array.isArray(data.problems) ? data.problems : [];
  const folders = (Array.isArray(data.searchPath) ? data.searchPath : [])
    .map(d => (typeof d === 'string' ? {directory: d} : d)).filter(d => d && typeof d.directory === 'string');
  const search = h('input', {type: 'search', id: 'catalog-search', placeholder: 'Filter plugins…', 'aria-label': 'Filter plugins'});
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Catalog'),
    h('span', {class: 'muted'}, `${plugins.length} plugins · ${problems.length} refused`), h('span', {class: 'spacer'}), search));
  const rows = plugins.map(p => h('tr', {'data-plugin': p.name, 'data-type': p.type},
    h('td', {}, h('div', {class: 'strong'}, p.displayName && p.displayName !== p.name ? `${p.displayName}` : p.name),
      p.displayName && p.displayName !== p.name ? h('div', {class: 'muted mono small'}, p.name) : null,
      p.description ? h('div', {class: 'muted small wrap'}, p.description) : null),
    h('td', {}, h('span', {class: 'kind-tag', 'data-kind': p.type}, p.type)),
    h('td', {class: 'mono'}, p.version ?? '—'),
    h('td', {class: 'center'}, p.emitsAlerts ? h('span', {class: 'yes alerts', title: 'has an alert port'}, 'alerts') : h('span', {class: 'muted'}, '—')),
    h('td', {}, portsText(p.type, p)),
    h('td', {}, properties(p)),
    h('td', {class: 'muted small wrap'}, [p.origin, p.abi ? `ABI ${p.abi}` : null].filter(Boolean).join(' · '),
      p.library ? h('div', {class: 'mono small nowrap', title: p.library}, p.library.split('/').at(-1)) : null)));
  main.append(panel('Plugins', {},
    plugins.length ? table('catalog', ['Plugin', 'Type', 'Version', 'Alerts', 'Ports', 'Properties', 'From'], rows)
      : empty('No plugins found.', `The host looked in: ${folders.map(d => d.directory).join(', ') || 'its plugin folders'}. Build them with swift build, or pass --plugins DIR.`)));
  main.append(panel('Refused libraries', {},
    problems.length ? table('refused', ['Severity', 'File', 'Plugin', 'Reason'], problems.map(q => h('tr', {'data-severity': q.severity ?? ''},
      h('td', {}, h('span', {class: 'badge', 'data-badge': q.severity ?? 'error'}, q.severity ?? 'error')),
      h('td', {class: 'mono small wrap'}, q.file ?? '—'), h('td', {}, q.plugin ?? '—'), h('td', {class: 'wrap'}, q.message ?? ''))))
      : empty('No library was refused.', 'Libraries the host cannot use (wrong ABI, unsafe permissions, broken widgets) are listed here with the reason.')));
  if (folders.length) {
    main.append(h('p', {class: 'muted small', id: 'search-path'}, 'Search path: ',
      folders.map((d, i) => [i ? ', ' : '', h('code', {}, d.directory), d.origin ? ` (${d.origin})` : null])));
  }
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    for (const tr of main.querySelectorAll('#catalog tbody tr')) tr.hidden = q !== '' && !tr.textContent.toLowerCase().includes(q);
  });
}
