// One incident: what it is, the evidence in words, a timeline of its signals, the related
// events and flows (paged), and the analyst's actions. Also the filterable incident list.

import { api, qs, ApiError } from './api.js';
import { changes } from './stream.js';
import { h, replace, panel, note, field } from './dom.js';
import { timeline, widthOf } from './charts.js';
import {
  STATUSES, SEVERITIES, statusLabel, kindName, time, evidenceFigures, signalName, canMove, excess, num,
} from './format.js';
import { recordsTable } from './search.js';
import { incidentCard } from './overview.js';

const ACTIONS = [
  { to: 'acknowledged', label: 'Acknowledge' },
  { to: 'in_progress', label: 'Start work' },
  { to: 'resolved', label: 'Resolve' },
  { to: 'closed', label: 'Close' },
  { to: 'new', label: 'Reopen' },
];

const PAGE = 20;

export function renderIncident(root, id, ctx) {
  let inc = null;
  let disposed = false;
  const head = h('header', { class: 'incident-head' }, note('Loading the incident…'));
  const actions = panel('Actions', { id: 'actions' });
  const facts = panel('What it is', { id: 'facts' });
  const evidence = panel('Evidence', { id: 'evidence' });
  const chart = panel('Signals over time', { id: 'signals' });
  const notes = panel('Notes', { id: 'notes' });
  const history = panel('History', { id: 'history' });
  const related = panel('Related events and flows', { id: 'related' });
  root.append(head, h('div', { class: 'incident-grid' },
    h('div', { class: 'col-main' }, chart.section, evidence.section, related.section),
    h('div', { class: 'col-side' }, actions.section, facts.section, notes.section, history.section)));

  const busy = new Set();
  async function act(label, fn) {
    if (busy.has(label)) return;
    busy.add(label);
    try {
      const body = await fn();
      const updated = body?.incident || body;
      if (updated && updated.id) show(updated);
      ctx.toast(`${label}: done`);
    } catch (e) {
      const msg = e instanceof ApiError && e.status === 409 ? `${label} is not possible now: ${e.message}` : `${label} failed: ${e.message}`;
      ctx.toast(msg, 'error');
    } finally {
      busy.delete(label);
    }
  }
  const patch = (body) => api(`/incidents/${encodeURIComponent(id)}`, { method: 'PATCH', body });

  // The controls are made once, so a live update never takes the focus or a half-typed
  // note away.
  const statusButtons = ACTIONS.map((a) => h('button', {
    type: 'button', class: a.to === 'resolved' ? 'primary' : null, disabled: true,
    'data-action': a.to, onClick: () => act(a.label, () => patch({ status: a.to })),
  }, a.label));
  const assignee = h('input', { id: 'assignee', name: 'assignee', maxlength: 128, autocomplete: 'off' });
  const assignForm = h('form', { class: 'inline' }, h('label', { for: 'assignee' }, 'Assignee'), assignee,
    h('button', { type: 'submit' }, 'Assign'));
  assignForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const who = assignee.value.trim();
    act('Assign', () => patch({ assignee: who || null }));
  });
  const into = h('input', { id: 'merge-into', name: 'into', placeholder: 'incident id', maxlength: 128, autocomplete: 'off' });
  const mergeForm = h('form', { class: 'inline' }, h('label', { for: 'merge-into' }, 'Merge into'), into,
    h('button', { type: 'submit' }, 'Merge'));
  mergeForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const target = into.value.trim();
    if (!target) { into.focus(); return; }
    act('Merge', async () => {
      const r = await api(`/incidents/${encodeURIComponent(id)}/merge`, { method: 'POST', body: { into: target } });
      into.value = '';
      return r?.merged || null; // this incident, now closed and pointing at the other
    });
  });
  const notesList = h('div', {});
  const text = h('textarea', { id: 'note-text', name: 'text', rows: 3, maxlength: 4000, required: true });
  const noteForm = h('form', { class: 'note-form' }, h('label', { for: 'note-text' }, 'Add a note'), text,
    h('button', { type: 'submit' }, 'Add note'));
  noteForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = text.value.trim();
    if (!t) return;
    act('Note', async () => {
      const r = await api(`/incidents/${encodeURIComponent(id)}/notes`, { method: 'POST', body: { text: t } });
      text.value = '';
      return r;
    });
  });

  function show(next) {
    inc = next;
    replace(head,
      h('p', { class: 'crumbs' }, h('a', { href: '#/overview' }, 'Overview'), ' / ', h('a', { href: '#/incidents' }, 'Incidents'), ' / ', inc.id),
      h('h1', { id: 'incident-title' }, inc.title),
      h('p', { class: 'badges' },
        h('span', { class: `badge sev-${inc.severity}`, 'data-field': 'severity' }, inc.severity),
        h('span', { class: `badge status-${inc.status}`, 'data-field': 'status' }, statusLabel(inc.status)),
        h('span', { class: 'badge plain' }, `score ${inc.score}`),
        h('span', { class: 'badge plain' }, kindName(inc.kind)),
        ...(inc.sectors || []).map((x) => h('span', { class: 'badge sector' }, x))));

    const focused = document.activeElement;
    for (const button of statusButtons) button.disabled = !canMove(inc.status, button.dataset.action);
    if (focused && statusButtons.includes(focused) && focused.disabled) {
      const next = statusButtons.find((x) => !x.disabled);
      if (next) next.focus();
    }
    if (document.activeElement !== assignee) assignee.value = inc.assignee || '';
    if (!actions.body.firstChild) {
      actions.body.append(h('div', { class: 'buttons', role: 'group', 'aria-label': 'Status' }, statusButtons), assignForm, mergeForm);
    }

    replace(facts.body, h('dl', { class: 'facts' },
      fact('Status', statusLabel(inc.status)),
      fact('Assignee', inc.assignee || 'nobody'),
      fact('First seen', time(inc.first_seen)),
      fact('Last seen', time(inc.last_seen)),
      fact('Signals', num(inc.signal_count)),
      fact('ATT&CK', (inc.attack || []).join(', ') || '—'),
      fact('Tags', (inc.tags || []).join(', ') || '—'),
      fact('Updated', time(inc.updated_at)),
      inc.merged_into ? fact('Merged into', h('a', { href: `#/incidents/${encodeURIComponent(inc.merged_into)}` }, inc.merged_into)) : null),
    h('table', { class: 'data' }, h('caption', {}, 'Entities'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Value'), h('th', { scope: 'col' }, 'Role'))),
      h('tbody', {}, (inc.entities || []).map((e) => h('tr', {},
        h('td', {}, e.type),
        h('td', {}, entityLink(e)),
        h('td', {}, e.role))))));

    const ev = (inc.evidence || []).slice().sort((a, b) => String(a.at).localeCompare(String(b.at)));
    replace(evidence.body, ev.length
      ? h('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': `${ev.length} signals, oldest first` },
        h('ol', { class: 'evidence' }, ev.map(evidenceItem)))
      : note('No evidence recorded.'));

    replace(chart.body, ev.length ? timeline({
      width: widthOf(chart.body, 760),
      items: ev.map((e) => ({
        t: Date.parse(e.at), lane: `${e.sector} · ${signalName(e.signal)}`, text: e.description,
        cls: (excess(e) || 0) >= 3 ? 'mark-strong' : 'mark-weak',
      })),
      label: `${ev.length} signals from ${time(ev[0].at)} to ${time(ev[ev.length - 1].at)} in ${[...new Set(ev.map((e) => e.sector))].join(', ')}.`,
    }) : note('No signals to draw.'));

    const list = (inc.notes || []).slice().reverse();
    replace(notesList, list.length ? h('ul', { class: 'notes' }, list.map((n) => h('li', {},
      h('p', { class: 'note-meta' }, `${n.author} · ${time(n.at)}`), h('p', {}, n.text)))) : note('No notes yet.'));
    if (!notes.body.firstChild) notes.body.append(notesList, noteForm);
  }

  function fact(k, v) {
    return [h('dt', {}, k), h('dd', {}, v)];
  }

  function entityLink(e) {
    if (e.type === 'ip' || e.type === 'cidr') {
      return h('a', { href: `#/search?${new URLSearchParams({ kind: 'flows', ip: e.value, from: around(inc.first_seen, -1), to: around(inc.last_seen, 1) })}` }, e.value);
    }
    return e.value;
  }

  function evidenceItem(e) {
    const figures = evidenceFigures(e);
    return h('li', {},
      h('p', { class: 'ev-head' }, h('strong', {}, signalName(e.signal)), ` in ${e.sector} · ${time(e.at)}`,
        h('span', { class: 'muted' }, ` (${e.signal})`)),
      h('p', { class: 'ev-text' }, e.description),
      figures ? h('p', { class: 'ev-figures' }, figures.charAt(0).toUpperCase() + figures.slice(1), '.') : null,
      gauge(e),
      (e.sample_event_ids || []).length ? h('p', { class: 'muted small' }, `Sample events: ${e.sample_event_ids.join(', ')}`) : null);
  }

  async function load() {
    let body;
    try {
      body = await api(`/incidents/${encodeURIComponent(id)}?related_limit=200`);
    } catch (e) {
      replace(head, h('h1', {}, 'Incident'), note(e.status === 404 ? 'No such incident (or not in your sectors).' : `Cannot load the incident: ${e.message}`, 'error'));
      return;
    }
    if (disposed) return;
    show(body.incident || body);
    showHistory(body.timeline || []);
    loadRelated(body);
  }

  function showHistory(entries) {
    const changesOnly = entries.filter((e) => e.type === 'change' && e.change).reverse();
    replace(history.body, changesOnly.length ? h('ol', { class: 'history' }, changesOnly.map(historyItem)) : note('No changes recorded.'));
  }

  function historyItem(e) {
    const c = e.change;
    return h('li', { 'data-seq': c.seq },
      h('span', { class: 'note-meta' }, `${time(e.at)} · ${c.actor}`), ' ',
      `${c.kind}: ${statusLabel(c.status)}${c.assignee ? `, assigned to ${c.assignee}` : ''}`);
  }

  /**
   * The related events and flows the API returns with the incident (its sample events, and
   * records to or from its addresses around its span), paged here; the search view has the
   * rest.
   */
  function loadRelated(body) {
    const blocks = ['events', 'flows'].map((kind) => {
      const items = body.related?.[kind] || [];
      const block = h('div', { class: 'related-block', 'data-kind': kind });
      pageRelated(block, kind, items, 0);
      return block;
    });
    replace(related.body, blocks);
  }

  function pageRelated(block, kind, items, page) {
    const pages = Math.max(1, Math.ceil(items.length / PAGE));
    const slice = items.slice(page * PAGE, (page + 1) * PAGE);
    const label = kind === 'events' ? 'Events' : 'Flows';
    const ips = (inc.entities || []).filter((e) => e.type === 'ip');
    const pager = h('div', { class: 'pager', role: 'group', 'aria-label': `${label} pages` },
      page > 0 ? h('button', { type: 'button', class: 'ghost', onClick: () => pageRelated(block, kind, items, page - 1) }, 'Previous') : null,
      pages > 1 ? h('span', { class: 'muted small' }, `page ${page + 1} of ${pages}`) : null,
      page + 1 < pages ? h('button', { type: 'button', onClick: () => pageRelated(block, kind, items, page + 1) }, `Next ${PAGE}`) : null,
      ips.map((e) => h('a', {
        class: 'small',
        href: `#/search?${new URLSearchParams({ kind, ip: e.value, from: around(inc.first_seen, -1), to: around(inc.last_seen, 1) })}`,
      }, `All ${kind} of ${e.value}`)));
    replace(block, h('h3', {}, `${label} (${items.length})`),
      slice.length ? recordsTable(slice, kind) : note(`No ${kind} around the incident.`),
      pager);
  }

  function onChange(e) {
    const changed = e.detail.incident;
    if (changed.id === id && inc) {
      show(changed);
      const list = history.body.querySelector('.history');
      const item = historyItem({ at: e.detail.at, change: { seq: e.detail.seq, kind: e.detail.kind, actor: e.detail.actor, status: changed.status, assignee: changed.assignee } });
      if (list) list.prepend(item); else replace(history.body, h('ol', { class: 'history' }, item));
      const badge = head.querySelector('[data-field="status"]');
      if (badge) badge.classList.add('flash');
    }
  }
  changes.addEventListener('change', onChange);
  load();
  return () => {
    disposed = true;
    changes.removeEventListener('change', onChange);
  };
}

/** A bar: observed against the threshold (and baseline), on one scale. */
function gauge(e) {
  if (e.observed === undefined || e.observed === null) return null;
  const max = Math.max(Number(e.observed), Number(e.threshold || 0), Number(e.baseline || 0)) * 1.1 || 1;
  const pct = (v) => `${Math.min(100, (Number(v) / max) * 100).toFixed(1)}%`;
  const bar = h('div', { class: 'gauge', 'aria-hidden': 'true' }, h('span', { class: 'gauge-fill' }));
  bar.firstChild.style.width = pct(e.observed);
  for (const [k, v] of [['threshold', e.threshold], ['baseline', e.baseline]]) {
    if (v === undefined || v === null) continue;
    const tick = h('span', { class: `gauge-${k}`, title: `${k} ${num(v)}` });
    tick.style.left = pct(v);
    bar.append(tick);
  }
  return bar;
}

function around(iso, sign) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t + sign * 5 * 60000).toISOString() : undefined;
}

export function renderIncidentList(root, ctx) {
  const p = ctx.params;
  const form = h('form', { class: 'filters', 'aria-label': 'Filter incidents' },
    field('Status', h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'any'),
      ...STATUSES.map((x) => h('option', { value: x, selected: p.get('status') === x }, statusLabel(x))))),
    field('Severity at least', h('select', { id: 'f-severity', name: 'severity' }, h('option', { value: '' }, 'any'),
      ...SEVERITIES.slice().reverse().map((x) => h('option', { value: x, selected: p.get('severity') === x }, x)))),
    field('Sector', h('input', { id: 'f-sector', name: 'sector', value: p.get('sector') || '', maxlength: 64 })),
    field('Entity', h('input', { id: 'f-entity', name: 'entity', value: p.get('entity') || '', maxlength: 256 })),
    field('Text', h('input', { id: 'f-q', name: 'q', type: 'search', value: p.get('q') || '', maxlength: 256 })),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'));
  const results = h('div', { class: 'results' });
  root.append(h('h1', {}, 'Incidents'), form, results);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, v);
    ctx.navigate(`#/incidents?${q}`);
  });
  let disposed = false;
  async function load(cursor) {
    const params = Object.fromEntries(p);
    try {
      const body = await api(`/incidents${qs({ ...params, sort: '-last_seen', limit: 50, cursor })}`);
      if (disposed) return;
      const items = body?.incidents || body?.items || [];
      const next = body?.next_cursor;
      replace(results, items.length ? h('ul', { class: 'cards list' }, items.map(incidentCard)) : note('No incident matches.'),
        next ? h('button', { type: 'button', onClick: () => load(next) }, 'Next page') : null);
    } catch (e) {
      replace(results, note(`Cannot list incidents: ${e.message}`, 'error'));
    }
  }
  // Live changes reload the first page, at most once a second.
  let pending = null;
  const onChange = () => {
    if (!pending) pending = setTimeout(() => { pending = null; load(); }, 1000);
  };
  changes.addEventListener('change', onChange);
  load();
  return () => {
    disposed = true;
    clearTimeout(pending);
    changes.removeEventListener('change', onChange);
  };
}
