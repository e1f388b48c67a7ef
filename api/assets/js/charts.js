// Charts as plain SVG: a sector × hour heatmap, traffic against its baseline band, and an
// incident's signal timeline. Each chart is an image with a text summary (role="img" and
// aria-label) and a <title> on every mark for pointer and screen-reader users.

import { s } from './dom.js';
import { shortTime, num, compact, time } from './format.js';

/** The width to draw at: the container's, so text keeps its CSS size. */
export function widthOf(el, fallback) {
  const w = el && el.clientWidth;
  return w && w > 100 ? Math.floor(w) : fallback;
}

const HOUR = 3600 * 1000;

/** The colour band of an anomaly score (0-100), matching the severities. */
export function scoreClass(score) {
  if (score === null || score === undefined) return 'heat-none';
  if (score >= 90) return 'heat-critical';
  if (score >= 70) return 'heat-high';
  if (score >= 40) return 'heat-medium';
  return 'heat-low';
}

function ticks(min, max, count) {
  if (!(max > min)) return [min];
  const out = [];
  for (let i = 0; i <= count; i += 1) out.push(min + ((max - min) * i) / count);
  return out;
}

/**
 * rows: sector names; start: ms of the first column; cols: number of hour columns;
 * cell(row, col) → {score, count} or null.
 */
export function heatmap({ rows, start, cols, cell, label, width = 600 }) {
  const left = 84;
  const top = 4;
  const rowH = 24;
  const cw = (width - left - 8) / cols;
  const height = top + rows.length * rowH + 26;
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart heatmap', role: 'img', 'aria-label': label,
    preserveAspectRatio: 'xMinYMin meet',
  });
  rows.forEach((row, ri) => {
    const y = top + ri * rowH;
    svg.append(s('text', { x: left - 8, y: y + rowH / 2 + 4, class: 'axis-label', 'text-anchor': 'end' }, row));
    for (let ci = 0; ci < cols; ci += 1) {
      const c = cell(row, ci);
      const from = start + ci * HOUR;
      const tip = c
        ? `${row}, ${shortTime(from)}–${shortTime(from + HOUR)} UTC: highest score ${c.score} (${c.count} signal${c.count === 1 ? '' : 's'})`
        : `${row}, ${shortTime(from)}–${shortTime(from + HOUR)} UTC: no anomaly`;
      svg.append(s('rect', {
        x: left + ci * cw + 1, y: y + 1, width: Math.max(cw - 2, 1), height: rowH - 2, rx: 2,
        class: `heat ${scoreClass(c ? c.score : null)}`, 'data-sector': row, 'data-score': c ? c.score : '',
      }, s('title', {}, tip)));
    }
  });
  const axisY = top + rows.length * rowH + 16;
  const every = cw < 30 ? 3 : 1;
  for (let ci = 0; ci <= cols; ci += every) {
    const anchor = ci === 0 ? 'start' : ci === cols ? 'end' : 'middle';
    svg.append(s('text', { x: left + ci * cw, y: axisY, class: 'axis-label', 'text-anchor': anchor }, shortTime(start + ci * HOUR)));
  }
  return svg;
}

/**
 * Observed values against the expected band.
 * points: [{t (ms), v (observed), lo, hi, expected}] — lo/hi/expected may be null.
 */
export function bandChart({ points, label, unit = 'records', width = 420 }) {
  const height = 130;
  const pad = { l: 40, r: 6, t: 6, b: 18 };
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart band', role: 'img', 'aria-label': label,
    preserveAspectRatio: 'xMinYMin meet',
  });
  if (!points.length) return svg;
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const vmax = Math.max(1, ...points.map((p) => Math.max(p.v || 0, p.hi || 0, p.expected || 0))) * 1.1;
  const x = (t) => pad.l + (t1 > t0 ? ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r) : (width - pad.l - pad.r) / 2);
  const y = (v) => pad.t + (1 - v / vmax) * (height - pad.t - pad.b);

  for (const tv of ticks(0, vmax, 3)) {
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y(tv), y2: y(tv), class: 'grid' }));
    svg.append(s('text', { x: pad.l - 4, y: y(tv) + 4, class: 'axis-label', 'text-anchor': 'end' }, compact(tv)));
  }
  ticks(t0, t1, 3).forEach((tt, i, all) => {
    const anchor = i === 0 ? 'start' : i === all.length - 1 ? 'end' : 'middle';
    svg.append(s('text', { x: x(tt), y: height - 4, class: 'axis-label', 'text-anchor': anchor }, shortTime(tt)));
  });

  const banded = points.filter((p) => p.lo !== null && p.lo !== undefined && p.hi !== null && p.hi !== undefined);
  if (banded.length) {
    const upper = banded.map((p) => `${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`);
    const lower = banded.slice().reverse().map((p) => `${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`);
    svg.append(s('polygon', { points: upper.concat(lower).join(' '), class: 'band-area' },
      s('title', {}, 'expected band')));
  }
  const expected = points.filter((p) => p.expected !== null && p.expected !== undefined);
  if (expected.length) {
    svg.append(s('polyline', {
      points: expected.map((p) => `${x(p.t).toFixed(1)},${y(p.expected).toFixed(1)}`).join(' '),
      class: 'band-expected',
    }));
  }
  svg.append(s('polyline', {
    points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.v || 0).toFixed(1)}`).join(' '),
    class: 'band-observed',
  }));
  for (const p of points) {
    const out = p.hi !== null && p.hi !== undefined && p.v > p.hi ? 'above'
      : p.lo !== null && p.lo !== undefined && p.v < p.lo ? 'below' : null;
    if (!out) continue;
    svg.append(s('circle', { cx: x(p.t), cy: y(p.v || 0), r: 3.5, class: `band-out ${out}` },
      s('title', {}, `${shortTime(p.t)} UTC: ${num(p.v)} ${unit}, ${out} the band ${num(p.lo)}–${num(p.hi)}`)));
  }
  return svg;
}

/**
 * An incident's signals over time, one lane per sector and signal.
 * items: [{t (ms), lane, text, cls}]
 */
export function timeline({ items, label, width = 760 }) {
  const lanes = [...new Set(items.map((i) => i.lane))];
  const left = 190;
  const laneH = 24;
  const height = 10 + lanes.length * laneH + 24;
  const svg = s('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart timeline', role: 'img', 'aria-label': label,
    preserveAspectRatio: 'xMinYMin meet',
  });
  if (!items.length) return svg;
  let t0 = Math.min(...items.map((i) => i.t));
  let t1 = Math.max(...items.map((i) => i.t));
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  const span = t1 - t0;
  t0 -= span * 0.03;
  t1 += span * 0.03;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - 12);
  lanes.forEach((lane, li) => {
    const y = 10 + li * laneH + laneH / 2;
    svg.append(s('line', { x1: left, x2: width - 12, y1: y, y2: y, class: 'grid' }));
    svg.append(s('text', { x: left - 8, y: y + 4, class: 'axis-label', 'text-anchor': 'end' }, lane));
  });
  const fine = t1 - t0 < 10 * 60000;
  ticks(t0, t1, 4).forEach((tt, i, all) => {
    const anchor = i === 0 ? 'start' : i === all.length - 1 ? 'end' : 'middle';
    svg.append(s('text', { x: x(tt), y: height - 6, class: 'axis-label', 'text-anchor': anchor }, shortTime(tt, fine)));
  });
  for (const it of items) {
    const y = 10 + lanes.indexOf(it.lane) * laneH + laneH / 2;
    svg.append(s('circle', { cx: x(it.t), cy: y, r: 6, class: `mark ${it.cls || ''}` },
      s('title', {}, `${time(it.t)}: ${it.text}`)));
  }
  return svg;
}
