// Numbers, durations, sizes and times as people read them; raw values stay in attributes.
import {h} from './dom.js';

/// 12, 1,234, 12.3k, 4.5M — fits a fixed-width counter.
export function count(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  const a = Math.abs(n);
  if (a < 10000) return Math.round(n).toLocaleString('en-US');
  if (a < 99950) return (n / 1e3).toFixed(1) + 'k';
  if (a < 999500) return (n / 1e3).toFixed(0) + 'k';
  if (a < 9995000) return (n / 1e6).toFixed(2) + 'M';
  if (a < 99950000) return (n / 1e6).toFixed(1) + 'M';
  if (a < 999500000) return (n / 1e6).toFixed(0) + 'M';
  return (n / 1e9).toFixed(2) + 'G';
}

export function integer(n) {
  return n === null || n === undefined ? '—' : Math.round(n).toLocaleString('en-US');
}

/// 41.5 ms, 2.31 s, 3 min 20 s, 2 h 5 min.
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1) return ms.toFixed(2) + ' ms';
  if (ms < 100) return ms.toFixed(1) + ' ms';
  if (ms < 1000) return Math.round(ms) + ' ms';
  const sec = ms / 1000;
  if (sec < 60) return sec.toFixed(sec < 10 ? 2 : 1) + ' s';
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min ${Math.round(sec % 60)} s`;
  const hr = Math.floor(min / 60);
  if (hr < 48) return `${hr} h ${min % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/// An axis tick: count() for whole numbers, up to 3 digits for fractions under 10 (0.25,
/// 1.5 — never a rounded "0" or a duplicate "1").
export function tickCount(n) {
  if (typeof n === 'number' && Math.abs(n) < 10 && !Number.isInteger(n)) return String(Number(n.toPrecision(3)));
  return count(n);
}

/// duration() without trailing zeros, for an axis: 5 s, 2.5 s, 10 s.
export function tickDuration(ms) {
  return duration(ms).replace(/(\.\d*?)0+(?= )/, '$1').replace(/\.(?= )/, '');
}

export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '—';
  return count(perSecond) + '/s';
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
}

/// "3 min ago", "in 2 h", "just now".
export function relative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '—';
  const d = (ms - now) / 1000, a = Math.abs(d);
  let text;
  if (a < 5) return 'just now';
  if (a < 60) text = `${Math.round(a)} s`;
  else if (a < 3600) text = `${Math.round(a / 60)} min`;
  else if (a < 86400 * 2) text = `${Math.round(a / 3600)} h`;
  else text = `${Math.round(a / 86400)} days`;
  return d < 0 ? `${text} ago` : `in ${text}`;
}

export function absolute(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const p = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/// Milliseconds from an ISO-8601 text (silences' times), or null.
export function parseTime(iso) {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/// "3 min ago" within a day and a half of now; further away the date and time, which say
/// more than "15 days ago" (incidents of replayed data are in event time).
export function when(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '—';
  return Math.abs(ms - now) > 36 * 3600 * 1000 ? absolute(ms).slice(0, 16) : relative(ms, now);
}

/// A <time> showing "3 min ago", the absolute time in its title; kept fresh by tick().
export function time(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(Number(ms))) return h('span', {class: 'muted'}, '—');
  return h('time', {datetime: new Date(ms).toISOString(), title: absolute(ms), 'data-ms': ms}, when(ms));
}

/// Refreshes every relative time on the page.
export function tick(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll('time[data-ms]')) {
    const text = when(Number(t.getAttribute('data-ms')), now);
    if (t.textContent !== text) t.textContent = text;
  }
}

/// The ports of a stage or plugin, as its panel and the catalog list them: an alert
/// publisher takes alerts and has no output.
export function portsText(kind, {emitsErrors, emitsAlerts, outputs}) {
  if (kind === 'alertpublisher') return 'alerts in';
  if (kind === 'functions') return '—';
  return ['records', ...(emitsErrors ? ['errors'] : []), ...(emitsAlerts ? ['alerts'] : []), ...(outputs ?? [])].join(', ');
}
