// The national picture: open incidents by severity (live), anomaly scores per sector and
// hour, each sector's traffic against its baseline band, and what intake received.

import { api, qs, missing } from './api.js';
import { changes } from './stream.js';
import { h, replace, panel, note } from './dom.js';
import { heatmap, bandChart, widthOf } from './charts.js';
import {
  SEVERITIES, OPEN_STATUSES, statusLabel, kindName, time, shortTime, num, compact,
} from './format.js';

const HOUR = 3600 * 1000;
const HOURS = 24;
const RECENT = 6 * HOUR; // the traffic charts' window
const STEP = 5 * 60 * 1000;

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
      scoredList(cells, start),
      h('p', { class: 'legend' },
        h('span', { class: 'swatch heat-none' }), 'none ',
        h('span', { class: 'swatch heat-low' }), '< 40 ',
        h('span', { class: 'swatch heat-medium' }), '40–69 ',
        h('span', { class: 'swatch heat-high' }), '70–89 ',
        h('span', { class: 'swatch heat-critical' }), '≥ 90',
        h('span', { class: 'muted legend-note' }, `highest incident score per sector and hour, up to ${time(end)}`)));
  }

  /** The scored cells in words, for keyboard and screen-reader users. */
  function scoredList(cells, start) {
    const rows = [...cells.entries()].map(([key, c]) => {
      const [sector, col] = key.split('|');
      return { sector, t: start + Number(col) * HOUR, ...c };
    }).sort((a, b) => b.score - a.score || a.t - b.t);
    return h('details', { class: 'scored' },
      h('summary', {}, `Scored sector-hours (${rows.length})`),
      h('ul', {}, rows.map((r) => h('li', {},
        `${r.sector}, ${time(r.t).replace(':00 UTC', '')}–${shortTime(r.t + HOUR)} UTC: highest score ${r.score}, ${r.count} signal${r.count === 1 ? '' : 's'}`))));
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

  /** The end of the picture: the latest event time the API knows of (not the wall clock). */
  function dataEnd(sectors) {
    const stamps = [];
    for (const x of sectors) stamps.push(Date.parse(x.latest_record || x.watermark || ''));
    for (const inc of recent.values()) stamps.push(Date.parse(inc.last_seen));
    const valid = stamps.filter((t) => Number.isFinite(t));
    return valid.length ? Math.ceil((Math.max(...valid) + 1) / HOUR) * HOUR : Math.ceil(Date.now() / HOUR) * HOUR;
  }

  async function loadTraffic() {
    let tracked = [];
    try {
      tracked = itemsOf(await api('/sectors'));
    } catch (e) {
      if (!missing(e)) replace(traffic.body, note(`Cannot load the sectors: ${e.message}`, 'error'));
    }
    const end = dataEnd(tracked);
    const from = new Date(end - HOURS * HOUR).toISOString();
    const to = new Date(end).toISOString();
    const window = { from, to, bucket: '1h' };
    const recentWindow = { from: new Date(end - RECENT).toISOString(), to, bucket: '5m' };
    const [flows, events, recentFlows, recentEvents] = await Promise.all([
      api(`/flows/timeseries${qs(window)}`).catch(() => null),
      api(`/events/timeseries${qs(window)}`).catch(() => null),
      api(`/flows/timeseries${qs(recentWindow)}`).catch(() => null),
      api(`/events/timeseries${qs(recentWindow)}`).catch(() => null),
    ]);
    if (disposed) return null;
    const names = new Set(tracked.map((x) => x.sector));
    for (const inc of recent.values()) for (const x of inc.sectors || []) names.add(x);
    const totals = new Map(); // sector → {flows, events}
    for (const [kind, body] of [['flows', flows], ['events', events]]) {
      for (const b of body?.buckets || []) {
        const t = Date.parse(b.start);
        if (!Number.isFinite(t) || !b.sector) continue;
        names.add(b.sector);
        const tot = totals.get(b.sector) || { flows: 0, events: 0 };
        tot[kind] += b.count || 0;
        totals.set(b.sector, tot);
      }
    }
    const recentSeries = new Map(); // sector → Map(t → {flows, events}), 5-minute buckets
    for (const [kind, body] of [['flows', recentFlows], ['events', recentEvents]]) {
      for (const b of body?.buckets || []) {
        const t = Date.parse(b.start);
        if (!Number.isFinite(t) || !b.sector) continue;
        const m = recentSeries.get(b.sector) || new Map();
        const p = m.get(t) || { flows: 0, events: 0 };
        p[kind] += b.count || 0;
        m.set(t, p);
        recentSeries.set(b.sector, m);
      }
    }
    sectorNames = [...names].sort();
    drawHeat();
    if (!sectorNames.length) {
      replace(traffic.body, note('No sector has sent data yet.'));
      return { totals, end, seriesOk: Boolean(flows || events) };
    }
    const status = new Map(tracked.map((x) => [x.sector, x]));
    const bands = await Promise.all(sectorNames.map((name) => baselineOf(name, status.get(name))));
    if (disposed) return null;
    const chartWidth = Math.max(240, Math.floor((widthOf(traffic.body, 760) - 8) / 2) - 10);
    const charts = h('div', { class: 'bands' });
    // Sectors with a learned band first (alphabetically within each group).
    const learned = (band) => Boolean(band && band.points.some((p) => p.expected !== null));
    const order = sectorNames.map((name, i) => ({ name, band: bands[i] }))
      .sort((a, b) => Number(learned(b.band)) - Number(learned(a.band)));
    order.forEach(({ name, band }) => {
      const st = status.get(name);
      let points;
      let caption;
      if (learned(band)) {
        points = band.points;
        caption = `flow records per ${band.bin} s against expected ± 3σ`;
      } else {
        const m = recentSeries.get(name) || new Map();
        points = [];
        for (let t = end - RECENT; t < end; t += STEP) {
          const p = m.get(t);
          points.push({ t, v: p ? p.flows + p.events : 0, lo: null, hi: null, expected: null });
        }
        caption = st ? 'records per 5 min; baseline still learning' : 'records per 5 min; no baseline (not tracked since the server started)';
      }
      const outside = points.filter((p) => (p.hi !== null && p.v > p.hi) || (p.lo !== null && p.v < p.lo)).length;
      charts.append(h('figure', { class: 'band-figure', 'data-sector': name },
        h('figcaption', {}, h('strong', {}, name), h('span', { class: 'muted' }, caption),
          outside ? h('span', { class: 'badge sev-high' }, `${outside} outside the band`) : null),
        bandChart({
          points, width: chartWidth,
          label: `${name}: ${caption}; ${outside} points outside the band.`,
        })));
    });
    replace(traffic.body, charts,
      h('p', { class: 'legend' }, h('span', { class: 'swatch band-swatch' }), 'expected band ',
        h('span', { class: 'swatch observed-swatch' }), 'observed ',
        h('span', { class: 'swatch out-swatch' }), 'outside the band',
        h('span', { class: 'muted legend-note' }, `event time up to ${time(end)}`)));
    return { totals, end, seriesOk: Boolean(flows || events) };
  }

  /** A tracked sector's flow records per fast bin against its learned profile (last 6 h). */
  async function baselineOf(name, st) {
    if (!st || !st.latest_record) return null;
    // Up to the end of the latest record's bin: the bin after it has not been observed yet.
    const width = (st.last_bin?.width_seconds || 60) * 1000;
    const to = (Math.floor(Date.parse(st.latest_record) / width) + 1) * width;
    const from = to - 6 * HOUR;
    try {
      const body = await api(`/sectors/${encodeURIComponent(name)}/baseline${qs({ from: new Date(from).toISOString(), to: new Date(to).toISOString() })}`);
      const bin = body?.profile?.bin_seconds || 60;
      const points = (body?.points || []).map((p) => {
        const expected = p.expected ?? null;
        const dev = p.deviation ?? null;
        return {
          t: Date.parse(p.start), v: p.observed || 0, expected,
          lo: expected !== null && dev !== null ? Math.max(0, expected - 3 * dev) : null,
          hi: expected !== null && dev !== null ? expected + 3 * dev : null,
        };
      }).filter((p) => Number.isFinite(p.t));
      return { bin, points };
    } catch {
      return null;
    }
  }

  async function loadIntake(state) {
    let live = null;
    try {
      live = await api('/intake');
    } catch (e) {
      if (!missing(e)) { replace(intake.body, note(`Cannot load intake counters: ${e.message}`, 'error')); return; }
    }
    if (disposed) return;
    const totals = state?.totals || new Map();
    const names = [...new Set([...sectorNames, ...totals.keys()])].sort();
    const perSector = state?.seriesOk ? h('table', { class: 'data', id: 'stored' },
      h('caption', {}, `Stored in the 24 h up to ${time(state.end)}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Sector'), h('th', { scope: 'col', class: 'num' }, 'Events'),
        h('th', { scope: 'col', class: 'num' }, 'Flows'))),
      h('tbody', {}, names.map((name) => {
        const v = totals.get(name) || { events: 0, flows: 0 };
        return h('tr', {}, h('th', { scope: 'row' }, name),
          h('td', { class: 'num' }, compact(v.events)), h('td', { class: 'num' }, compact(v.flows)));
      }))) : null;
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
    replace(intake.body, perSector, perSource, globals);
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

  const refresh = () => loadTraffic().then((state) => { if (state) loadIntake(state); });
  loadIncidents().then(refresh);
  const timer = setInterval(refresh, 60000);

  return () => {
    disposed = true;
    clearInterval(timer);
    changes.removeEventListener('change', onChange);
  };
}
