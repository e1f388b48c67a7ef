// Search over stored events and flows: time range, sector, address or CIDR, port, and free
// text, paged with the API's cursor. The form lives in the URL (#/search?...) so a search
// can be linked to, from an incident's entities for instance.

import { api, qs } from './api.js';
import { h, replace, note, field } from './dom.js';
import { time, bytes, compact } from './format.js';

const PAGE = 50;

let described = null;

/** The filters GET /events or /flows takes, read from the OpenAPI document. */
async function searchFilters(kind) {
  if (!described) {
    described = fetch('/api/v1/openapi.json', { cache: 'no-store', credentials: 'omit' })
      .then((r) => (r.ok ? r.json() : null)).catch(() => null);
  }
  const doc = await described;
  const op = doc?.paths?.[`/${kind}`]?.get;
  const names = new Set((op?.parameters || []).map((x) => x.name)
    .filter((n) => !['from', 'to', 'sector', 'ip', 'port', 'limit', 'cursor', 'order', 'q'].includes(n)));
  return { names, text: Boolean(op?.parameters?.some((x) => x.name === 'q')) };
}

/** The latest event time the API knows of: the newest incident or sector record. */
async function latestDataTime() {
  const stamps = [];
  try {
    const inc = await api('/incidents?limit=1&sort=-last_seen');
    for (const i of inc?.incidents || []) stamps.push(Date.parse(i.last_seen));
  } catch { /* no incidents endpoint: fall back on the sectors */ }
  try {
    const sec = await api('/sectors');
    for (const x of sec?.items || []) stamps.push(Date.parse(x.latest_record || ''));
  } catch { /* the API's own default window then */ }
  const valid = stamps.filter((t) => Number.isFinite(t));
  return valid.length ? Math.max(...valid) : null;
}

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
    field('Text or field=value', h('input', { id: 's-q', name: 'q', type: 'search', value: p.get('q') || '', maxlength: 512, placeholder: 'failed login  user.name=root', 'aria-describedby': 's-q-help' })),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const help = h('p', { id: 's-q-help', class: 'muted small' });
  root.append(h('h1', {}, 'Search events and flows'), form, help, results);

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
  let filters = null; // {names: Set of field filters, text: whether `q` is offered}

  /** The free-text box: `field=value` terms become field filters, other words `q`. */
  function textTerms(text) {
    const out = {};
    const words = [];
    for (const term of text.match(/(?:[^\s"]+|"[^"]*")+/g) || []) {
      const eq = term.indexOf('=');
      const name = eq > 0 ? term.slice(0, eq) : '';
      if (name && filters.names.has(name)) out[name] = term.slice(eq + 1).replace(/^"|"$/g, '');
      else words.push(term);
    }
    if (words.length) {
      if (!filters.text) {
        throw new Error(`this server searches by field only: write field=value with one of ${[...filters.names].sort().join(', ')}`);
      }
      out.q = words.join(' ');
    }
    return out;
  }

  async function load(cursor) {
    if (!filters) filters = await searchFilters(kind);
    const examples = [...filters.names].filter((n) => n.includes('.')).slice(0, 3);
    help.textContent = filters.text
      ? 'Words are searched in the records; field=value narrows to a field.'
      : examples.length ? `Narrow by field with field=value: ${examples.map((n) => `${n}=…`).join(', ')} and more.` : '';
    const params = {};
    for (const k of ['from', 'to', 'sector', 'ip', 'port']) if (p.get(k)) params[k] = p.get(k);
    if (!p.toString()) {
      replace(results, note('Choose what to look for and press Search.'));
      return;
    }
    try {
      Object.assign(params, textTerms(p.get('q') || ''));
    } catch (e) {
      replace(results, note(e.message, 'error'));
      return;
    }
    if (!params.from && !params.to) {
      // The API's default window ends now; replayed or delayed data may end earlier.
      const end = await latestDataTime();
      if (end) {
        params.to = new Date(end + 60000).toISOString();
        params.from = new Date(end + 60000 - 24 * 3600 * 1000).toISOString();
        form.elements.from.value = toLocalInput(params.from);
        form.elements.to.value = toLocalInput(params.to);
      }
    }
    replace(results, note('Searching…'));
    try {
      const body = await api(`/${kind}${qs({ ...params, limit: PAGE, cursor })}`);
      if (disposed) return;
      const items = body?.items || (Array.isArray(body) ? body : []);
      const next = body?.next_cursor || null;
      replace(results,
        h('p', { class: 'muted', role: 'status' },
          `${items.length} ${kind}${next ? ' on this page' : ''}${body?.from ? ` between ${time(body.from)} and ${time(body.to)}` : ''}.`),
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
