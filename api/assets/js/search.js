// Search over stored events and flows: time range, sector, address or CIDR, port, and free
// text, paged with the API's cursor. The form lives in the URL (#/search?...) so a search
// can be linked to, from an incident's entities for instance.

import { api, qs } from './api.js';
import { h, replace, note, field } from './dom.js';
import { time, bytes, compact } from './format.js';

const PAGE = 50;

const endpoint = (ip) => (ip['source.ip'] !== undefined || ip['destination.ip'] !== undefined);

function hostPort(r, side) {
  const ip = r[`${side}.ip`];
  const port = r[`${side}.port`];
  if (ip === undefined) return '';
  return port === undefined ? ip : (String(ip).includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
}

function eventSummary(r) {
  const parts = [];
  for (const k of ['event.action', 'event.outcome', 'user.name', 'dns.question.name', 'url.original', 'rule.name', 'tls.server.sni']) {
    if (r[k] !== undefined && r[k] !== null && r[k] !== '') parts.push(`${k.split('.').slice(-1)[0]}=${r[k]}`);
  }
  if (!parts.length && r.message) parts.push(r.message);
  return parts.join(' ');
}

/** A table of events or flows as the API returns them (flat objects with dotted ECS keys). */
export function recordsTable(records, kind) {
  const flows = kind === 'flows';
  const cols = flows
    ? ['Time', 'Sector', 'Source', 'Destination', 'Transport', 'Bytes', 'Packets']
    : ['Time', 'Sector', 'Source', 'Destination', 'Category', 'Detail'];
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data records' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: ['Bytes', 'Packets'].includes(c) ? 'num' : null }, c)))),
    h('tbody', {}, records.map((r) => h('tr', { 'data-id': r['event.id'] || '' },
      h('td', { class: 'nowrap' }, time(r['@timestamp'])),
      h('td', {}, r['ncsoc.sector'] || ''),
      h('td', { class: 'mono' }, endpoint(r) ? hostPort(r, 'source') : r['host.name'] || ''),
      h('td', { class: 'mono' }, hostPort(r, 'destination')),
      flows ? [
        h('td', {}, r['network.transport'] || r['network.protocol'] || ''),
        h('td', { class: 'num' }, r['network.bytes'] === undefined ? '' : bytes(r['network.bytes'])),
        h('td', { class: 'num' }, r['network.packets'] === undefined ? '' : compact(r['network.packets'])),
      ] : [
        h('td', {}, [].concat(r['event.category'] || []).join(', ')),
        h('td', { class: 'detail' }, eventSummary(r)),
      ])))));
}

/** "2026-03-02T10:00" (a datetime-local value, read as UTC) → RFC 3339. */
function toRfc3339(v) {
  if (!v) return '';
  const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(v) ? v : `${v}Z`);
  return Number.isNaN(d.getTime()) ? v : d.toISOString();
}

/** RFC 3339 → the datetime-local value in UTC. */
function toLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 19);
}

export function renderSearch(root, ctx) {
  const p = ctx.params;
  const kind = p.get('kind') === 'events' ? 'events' : 'flows';
  const radio = (value, label) => h('label', { class: 'radio' },
    h('input', { type: 'radio', name: 'kind', value, checked: kind === value }), ` ${label}`);
  const form = h('form', { class: 'filters', 'aria-label': 'Search events and flows' },
    h('fieldset', { class: 'kind' }, h('legend', {}, 'Look in'), radio('flows', 'Flows'), radio('events', 'Events')),
    field('From (UTC)', h('input', { id: 's-from', name: 'from', type: 'datetime-local', step: 1, value: toLocalInput(p.get('from')) })),
    field('To (UTC)', h('input', { id: 's-to', name: 'to', type: 'datetime-local', step: 1, value: toLocalInput(p.get('to')) })),
    field('Sector', h('input', { id: 's-sector', name: 'sector', value: p.get('sector') || '', maxlength: 64, autocomplete: 'off' })),
    field('IP or CIDR', h('input', { id: 's-ip', name: 'ip', value: p.get('ip') || '', maxlength: 64, placeholder: '10.1.0.0/24', autocomplete: 'off' })),
    field('Port', h('input', { id: 's-port', name: 'port', type: 'number', min: 0, max: 65535, value: p.get('port') || '' })),
    field('Text', h('input', { id: 's-q', name: 'q', type: 'search', value: p.get('q') || '', maxlength: 256, placeholder: 'words in the record' })),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  root.append(h('h1', {}, 'Search events and flows'), form, results);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) {
      if (!v) continue;
      q.set(k, k === 'from' || k === 'to' ? toRfc3339(v) : v);
    }
    ctx.navigate(`#/search?${q}`);
  });

  let disposed = false;
  const history = [];
  async function load(cursor) {
    const params = {};
    for (const k of ['from', 'to', 'sector', 'ip', 'port', 'q']) if (p.get(k)) params[k] = p.get(k);
    if (!Object.keys(params).length && !p.has('kind')) {
      replace(results, note('Choose what to look for and press Search.'));
      return;
    }
    replace(results, note('Searching…'));
    try {
      const body = await api(`/${kind}${qs({ ...params, limit: PAGE, cursor })}`);
      if (disposed) return;
      const items = body?.items || (Array.isArray(body) ? body : []);
      const next = body?.next_cursor || null;
      replace(results,
        h('p', { class: 'muted', role: 'status' }, `${items.length} ${kind}${next ? ' on this page' : ''}${cursor ? ' (later page)' : ''}.`),
        items.length ? recordsTable(items, kind) : note(`No ${kind} match.`),
        h('div', { class: 'pager' },
          history.length ? h('button', { type: 'button', class: 'ghost', onClick: () => load(history.pop()) }, 'Previous page') : null,
          next ? h('button', { type: 'button', onClick: () => { history.push(cursor); load(next); } }, 'Next page') : null));
    } catch (e) {
      replace(results, note(`Search failed: ${e.message}`, 'error'));
    }
  }
  load(undefined);
  return () => { disposed = true; };
}
