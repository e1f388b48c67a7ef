// The national picture: open incidents by severity (live), anomaly scores per sector and
// hour, each sector's traffic against its baseline band, and what intake received.

import { api, qs, missing } from './api.js';
import { changes } from './stream.js';
import { h, replace, panel, note } from './dom.js';
import { heatmap, bandChart, widthOf } from './charts.js';
import {
  SEVERITIES, OPEN_STATUSES, statusLabel, kindName, time, num, compact,
} from './format.js';

const HOUR = 3600 * 1000;
const HOURS = 24;

export function incidentCard(inc) {
  return h('li', { class: 'card-item', 'data-incident-id': inc.id },
    h('a', { class: `card sev-${inc.severity}`, href: `#/incidents/${encodeURIComponent(inc.id)}` },
      h('span', { class: 'card-title' }, inc.title),
      h('span', { class: 'card-meta' },
        h('span', { class: `badge status-${inc.status}` }, statusLabel(inc.status)),
        ` ${kindName(inc.kind)} · score ${inc.score} · ${(inc.sectors || []).join(', ')}`),
      h('span', { class: 'card-time' }, `last seen ${time(inc.last_seen)}`)));
}

function itemsOf(body) {
  if (Array.isArray(body)) return body;
  return body?.items || body?.incidents || body?.sectors || body?.series || [];
}

export function renderOverview(root, ctx) {
  const board = panel('Open incidents by severity', { id: 'board' });
  const heat = panel('Anomaly scores by sector and hour', { id: 'heat' });
  const traffic = panel('Traffic against the baseline band', { id: 'traffic' });
  const intake = panel('Ingest per sector and source', { id: 'intake' });
  root.append(h('h1', { class: 'visually-hidden' }, 'Overview'),
    h('div', { class: 'overview' }, board.section, heat.section, traffic.section, intake.section));

  const open = new Map(); // id → incident, open ones only
  const recent = new Map(); // id → incident, for the heatmap
  const columns = new Map();
  const lists = new Map();
  const counts = new Map();
  const boardGrid = h('div', { class: 'board' });
  for (const sev of SEVERITIES) {
    const list = h('ul', { class: 'cards', 'aria-label': `${sev} incidents` });
    const count = h('span', { class: 'count' }, '0');
    const col = h('div', { class: `column sev-col-${sev}`, 'data-severity': sev },
      h('h3', {}, h('span', { class: `badge sev-${sev}` }, sev), ' ', count),
      list);
    columns.set(sev, col);
    lists.set(sev, list);
    counts.set(sev, count);
    boardGrid.append(col);
  }
  replace(board.body, note('Loading incidents…'));

  function drawBoard() {
    replace(board.body, boardGrid);
    for (const sev of SEVERITIES) {
      const items = [...open.values()].filter((i) => i.severity === sev)
        .sort((a, b) => String(b.last_seen).localeCompare(String(a.last_seen)));
      counts.get(sev).textContent = String(items.length);
      replace(lists.get(sev), items.length ? items.map(incidentCard) : h('li', { class: 'muted empty' }, 'none'));
    }
  }

  function drawHeat() {
    const all = [...recent.values()];
    const stamps = [];
    for (const inc of all) {
      for (const ev of inc.evidence || []) stamps.push(Date.parse(ev.at));
      stamps.push(Date.parse(inc.last_seen));
    }
    const valid = stamps.filter((t) => Number.isFinite(t));
    if (!valid.length) { replace(heat.body, note('No incidents yet: nothing anomalous to show.')); return; }
    const end = Math.ceil((Math.max(...valid) + 1) / HOUR) * HOUR;
    const start = end - HOURS * HOUR;
    const cells = new Map();
    const sectors = new Set(sectorNames);
    for (const inc of all) {
      const signals = (inc.evidence || []).length ? inc.evidence
        : (inc.sectors || []).map((sector) => ({ at: inc.last_seen, sector }));
      for (const ev of signals) {
        const t = Date.parse(ev.at);
        if (!(t >= start && t < end) || !ev.sector) continue;
        sectors.add(ev.sector);
        const key = `${ev.sector}|${Math.floor((t - start) / HOUR)}`;
        const c = cells.get(key) || { score: 0, count: 0 };
        c.score = Math.max(c.score, inc.score || 0);
        c.count += 1;
        cells.set(key, c);
      }
    }
    const rows = [...sectors].sort();
    const hot = [...cells.entries()].filter(([, c]) => c.score >= 70).length;
    replace(heat.body,
      heatmap({
        rows, start, cols: HOURS, cell: (r, c) => cells.get(`${r}|${c}`) || null, width: widthOf(heat.body, 600),
        label: `Anomaly scores for ${rows.length} sectors over the 24 hours up to ${time(end)}; ${hot} sector-hours scored 70 or more.`,
      }),
      h('p', { class: 'legend' },
        h('span', { class: 'swatch heat-none' }), 'none ',
        h('span', { class: 'swatch heat-low' }), '< 40 ',
        h('span', { class: 'swatch heat-medium' }), '40–69 ',
        h('span', { class: 'swatch heat-high' }), '70–89 ',
        h('span', { class: 'swatch heat-critical' }), '≥ 90',
        h('span', { class: 'muted' }, ` · highest incident score per sector and hour, up to ${time(end)}`)));
  }

  let sectorNames = [];
  let disposed = false;

  async function loadIncidents() {
    try {
      const [openBody, recentBody] = await Promise.all([
        api(`/incidents${qs({ status: OPEN_STATUSES, sort: '-last_seen', limit: 200 })}`),
        api(`/incidents${qs({ sort: '-last_seen', limit: 500 })}`),
      ]);
      if (disposed) return;
      open.clear();
      for (const inc of itemsOf(openBody)) open.set(inc.id, inc);
      recent.clear();
      for (const inc of itemsOf(recentBody)) recent.set(inc.id, inc);
      drawBoard();
      drawHeat();
    } catch (e) {
      replace(board.body, note(`Cannot load incidents: ${e.message}`, 'error'));
      replace(heat.body, note('No incident data.', 'muted'));
    }
  }

  async function loadTraffic() {
    let sectorsBody;
    try {
      sectorsBody = await api('/sectors');
    } catch (e) {
      replace(traffic.body, note(missing(e) ? 'This server does not report sector baselines.' : `Cannot load sectors: ${e.message}`, missing(e) ? 'muted' : 'error'));
      return { sectors: [] };
    }
    const sectors = itemsOf(sectorsBody).map(sectorInfo).filter((x) => x.name);
    sectorNames = sectors.map((x) => x.name);
    if (disposed) return { sectors };
    const charts = h('div', { class: 'bands' });
    const chartWidth = Math.max(240, Math.floor((widthOf(traffic.body, 760) - 8) / 2) - 10);
    const series = await Promise.all(sectors.map((sec) => sectorSeries(sec).catch(() => null)));
    sectors.forEach((sec, i) => {
      const points = series[i] || [];
      const outside = points.filter((p) => (p.hi !== null && p.v > p.hi) || (p.lo !== null && p.v < p.lo)).length;
      charts.append(h('figure', { class: 'band-figure', 'data-sector': sec.name },
        h('figcaption', {},
          h('strong', {}, sec.name),
          ` · ${sec.observed !== null ? `${num(sec.observed)} observed` : ''}${sec.expected !== null ? ` vs ${num(sec.expected)} expected` : ''}`,
          outside ? h('span', { class: 'badge sev-high' }, `${outside} outside the band`) : null),
        points.length
          ? bandChart({ points, width: chartWidth, label: `${sec.name}: records per bucket against the expected band; ${outside} buckets outside it.` })
          : note('No traffic in the window.')));
    });
    replace(traffic.body, sectors.length ? charts : note('No sector has sent data yet.'),
      h('p', { class: 'legend' }, h('span', { class: 'swatch band-swatch' }), 'expected band ',
        h('span', { class: 'swatch observed-swatch' }), 'observed ',
        h('span', { class: 'swatch out-swatch' }), 'outside the band'));
    drawHeat();
    return { sectors, series };
  }

  async function loadIntake(sectorState) {
    let live = null;
    try {
      live = await api('/intake');
    } catch (e) {
      if (!missing(e)) { replace(intake.body, note(`Cannot load intake counters: ${e.message}`, 'error')); return; }
    }
    const stored = new Map();
    for (const [i, sec] of (sectorState.sectors || []).entries()) {
      const pts = sectorState.series?.[i] || [];
      stored.set(sec.name, { events: sec.events, flows: sec.flows, window: pts.reduce((a, p) => a + (p.v || 0), 0) });
    }
    const perSector = h('table', { class: 'data' },
      h('caption', {}, 'Stored per sector'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Sector'), h('th', { scope: 'col', class: 'num' }, 'Events'),
        h('th', { scope: 'col', class: 'num' }, 'Flows'), h('th', { scope: 'col', class: 'num' }, 'Records in window'))),
      h('tbody', {}, [...stored.entries()].map(([name, v]) => h('tr', {},
        h('th', { scope: 'row' }, name), h('td', { class: 'num' }, v.events === null ? '—' : compact(v.events)),
        h('td', { class: 'num' }, v.flows === null ? '—' : compact(v.flows)), h('td', { class: 'num' }, compact(v.window))))));
    const sources = live?.sources || [];
    const flowRows = live?.flow_listeners || [];
    const perSource = h('table', { class: 'data' },
      h('caption', {}, live ? `Received since start (${num(Math.round((live.uptime_secs || 0) / 60))} min ago)` : 'Live intake counters unavailable'),
      h('thead', {}, h('tr', {}, ...['Sector', 'Source', 'Received', 'Parsed', 'Rejected', 'Dropped']
        .map((c, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null }, c)))),
      h('tbody', {},
        sources.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.sector), h('td', {}, r.source, h('span', { class: 'muted small' }, ` ${r.listener}`)),
          h('td', { class: 'num' }, compact(r.received)), h('td', { class: 'num' }, compact(r.parsed)),
          h('td', { class: ['num', r.rejected ? 'warn' : null] }, compact(r.rejected)), h('td', { class: 'num' }, '—'))),
        flowRows.map((r) => h('tr', {}, h('th', { scope: 'row' }, r.sector), h('td', {}, `flow export :${r.port}`),
          h('td', { class: 'num' }, compact(r.datagrams)), h('td', { class: 'num' }, compact(r.flows)),
          h('td', { class: ['num', r.rejected ? 'warn' : null] }, compact(r.rejected)),
          h('td', { class: ['num', r.dropped + r.kernel_drops ? 'warn' : null] }, compact(r.dropped + r.kernel_drops)))),
        !sources.length && !flowRows.length ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'Nothing received on the intake listeners since the server started.')) : null));
    const g = live?.global;
    const globals = g ? h('p', { class: 'muted small' },
      `Refused senders ${compact(g.senders_refused)} · refused connections ${compact(g.connections_refused)} · ` +
      `TLS failures ${compact(g.tls_handshake_failures)} · frames too long ${compact(g.frames_too_long)} · ` +
      `HEC busy ${compact(g.hec_busy)} · HEC unauthorised ${compact(g.hec_unauthorized)} · ` +
      `store write errors ${compact(g.store_write_errors)} · spooled rows ${compact(g.store_rows_spooled)}`) : null;
    replace(intake.body, stored.size ? perSector : null, perSource, globals);
  }

  function onChange(e) {
    const inc = e.detail.incident;
    if (OPEN_STATUSES.includes(inc.status)) open.set(inc.id, inc);
    else open.delete(inc.id);
    recent.set(inc.id, inc);
    drawBoard();
    drawHeat();
    const card = board.body.querySelector(`[data-incident-id="${CSS.escape(inc.id)}"] .card`);
    if (card) {
      card.classList.add('flash');
      setTimeout(() => card.classList.remove('flash'), 2000);
    }
  }
  changes.addEventListener('change', onChange);

  loadIncidents();
  loadTraffic().then((state) => loadIntake(state || {}));
  const timer = setInterval(() => { loadTraffic().then((state) => loadIntake(state || {})); }, 60000);

  return () => {
    disposed = true;
    clearInterval(timer);
    changes.removeEventListener('change', onChange);
  };
}

/** One sector from /sectors, whatever the field names. */
function sectorInfo(x) {
  const pick = (...keys) => {
    for (const k of keys) if (x[k] !== undefined && x[k] !== null) return x[k];
    return null;
  };
  return {
    name: pick('sector', 'name'),
    watermark: pick('watermark'),
    expected: pick('expected', 'expected_volume', 'baseline'),
    observed: pick('observed', 'observed_volume'),
    events: pick('events'),
    flows: pick('flows'),
    raw: x,
  };
}

/** Records per bucket for one sector, with its expected band where the server gives one. */
async function sectorSeries(sec) {
  const end = sec.watermark ? Date.parse(sec.watermark) : Date.now();
  const from = new Date(end - HOURS * HOUR).toISOString();
  const to = new Date(end + 60000).toISOString();
  const [flows, events] = await Promise.all([
    api(`/flows/timeseries${qs({ sector: sec.name, bucket: '3600s', from, to })}`).catch(() => null),
    api(`/events/timeseries${qs({ sector: sec.name, bucket: '3600s', from, to })}`).catch(() => null),
  ]);
  const byT = new Map();
  for (const body of [flows, events]) {
    for (const b of bucketsOf(body)) {
      const p = byT.get(b.t) || { t: b.t, v: 0, lo: null, hi: null, expected: null };
      p.v += b.v;
      if (b.lo !== null) p.lo = (p.lo || 0) + b.lo;
      if (b.hi !== null) p.hi = (p.hi || 0) + b.hi;
      if (b.expected !== null) p.expected = (p.expected || 0) + b.expected;
      byT.set(b.t, p);
    }
  }
  return [...byT.values()].sort((a, b) => a.t - b.t);
}

function bucketsOf(body) {
  const out = [];
  const raw = Array.isArray(body) ? body : body?.buckets || body?.points || body?.items || [];
  for (const b of raw) {
    const t = Date.parse(b.start || b.at || b.t || b.time || b.bucket);
    if (!Number.isFinite(t)) continue;
    const num_ = (k) => (b[k] === undefined || b[k] === null ? null : Number(b[k]));
    out.push({ t, v: num_('count') ?? num_('value') ?? 0, lo: num_('lo') ?? num_('low'), hi: num_('hi') ?? num_('high'), expected: num_('expected') });
  }
  return out;
}

