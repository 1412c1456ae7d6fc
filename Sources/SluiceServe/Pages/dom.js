// Building the DOM without ever parsing data as HTML: every string goes in through
// textContent (text nodes) or setAttribute, never through an HTML parser (DashboardPagesTests
// checks the pages for the APIs that would parse).

const SVG = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/// Appends children: nodes, strings (as text), numbers, arrays of those; null/undefined skipped.
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// An HTML element: h('td', {class: 'num', 'data-x': 1}, 'text', child…).
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/// An SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function clear(el) { el.replaceChildren(); return el; }

/// A table with a header row and the given rows (tr elements); `id` names it. Each cell gets
/// its column's name in data-label, so that on a narrow window the rows read as cards
/// (style.css, table.cards); `cards: false` keeps a wide table scrolling instead.
export function table(id, headers, rows, {cards = true, ...attrs} = {}) {
  const labels = headers.map(c => (typeof c === 'string' ? c : c.textContent ?? ''));
  const trs = [rows].flat(Infinity).filter(tr => tr instanceof Element);
  // A column of numbers has its header on the right too.
  const numeric = new Set([...(trs[0]?.children ?? [])].flatMap((td, i) => (td.classList.contains('num') ? [i] : [])));
  for (const tr of trs) {
    [...tr.children].forEach((td, i) => {
      if (td.tagName === 'TD' && !td.hasAttribute('data-label') && labels[i]) td.setAttribute('data-label', labels[i]);
    });
  }
  return h('div', {class: 'table-wrap'},
    h('table', {id, class: cards ? 'cards' : null, ...attrs},
      h('thead', {}, h('tr', {}, headers.map((c, i) => {
        const th = typeof c === 'string' ? h('th', {scope: 'col'}, c) : c;
        if (numeric.has(i)) th.classList.add('num');
        return th;
      }))),
      h('tbody', {}, rows)));
}

/// An empty state: what is missing, and what to do about it.
export function empty(title, hint) {
  return h('div', {class: 'empty'}, h('p', {class: 'empty-title'}, title), hint ? h('p', {class: 'empty-hint'}, hint) : null);
}

/// A panel (Grafana-like): a titled box.
export function panel(title, attrs, ...children) {
  return h('section', {class: 'panel', ...attrs}, h('h2', {class: 'panel-title'}, title), ...children);
}

/// A state badge: firing, resolved, active, completed, failed…
export function badge(state) {
  return h('span', {class: 'badge', 'data-badge': state ?? 'unknown'}, state ?? '—');
}
