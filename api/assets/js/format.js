// How things read: times, numbers, severities, statuses, and the detector's evidence in
// words.

export const SEVERITIES = ['critical', 'high', 'medium', 'low'];
export const STATUSES = ['new', 'acknowledged', 'in_progress', 'resolved', 'closed'];
export const OPEN_STATUSES = ['new', 'acknowledged', 'in_progress'];

const STATUS_LABEL = {
  new: 'New',
  acknowledged: 'Acknowledged',
  in_progress: 'In progress',
  resolved: 'Resolved',
  closed: 'Closed',
};

export function statusLabel(s) {
  return STATUS_LABEL[s] || s;
}

export function severityRank(s) {
  const i = SEVERITIES.indexOf(s);
  return i < 0 ? SEVERITIES.length : i;
}

/** Mirrors the model's Status::can_move_to. */
export function canMove(from, to) {
  if (from === to) return false;
  if ((from === 'resolved' || from === 'closed') && to === 'new') return true;
  if (from === 'closed') return false;
  return STATUSES.indexOf(to) > STATUSES.indexOf(from);
}

const pad = (n) => String(n).padStart(2, '0');

/** "2026-03-02 10:42:20 UTC": event time is shown in UTC, the same for every analyst. */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`;
}

export function shortTime(iso, seconds = false) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return seconds ? `${hm}:${pad(d.getUTCSeconds())}` : hm;
}

export function num(v) {
  if (v === null || v === undefined || Number.isNaN(Number(v))) return '—';
  const n = Number(v);
  if (Math.abs(n) >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en');
  return n.toLocaleString('en', { maximumFractionDigits: Math.abs(n) < 1 ? 3 : 1 });
}

export function compact(v) {
  const n = Number(v) || 0;
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)} k`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return Math.round(n).toLocaleString('en');
}

export function duration(secs) {
  const n = Number(secs);
  if (!Number.isFinite(n)) return '';
  if (n < 120) return `${Math.round(n)} s`;
  if (n < 7200) return `${Math.round(n / 60)} min`;
  if (n < 172800) return `${Math.round(n / 3600)} h`;
  return `${Math.round(n / 86400)} days`;
}

export function bytes(v) {
  const n = Number(v) || 0;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i += 1; }
  return `${i === 0 ? x : x.toFixed(1)} ${units[i]}`;
}

const SIGNALS = {
  'nbad.scan.horizontal': 'Horizontal scan',
  'nbad.scan.vertical': 'Vertical scan',
  'nbad.port_scan': 'Port scan',
  'nbad.brute_force': 'Brute force',
  'nbad.ddos': 'Denial of service',
  'nbad.exfiltration': 'Exfiltration',
  'nbad.beaconing': 'Beaconing',
  'nbad.dns_tunnel': 'DNS tunnelling',
  'nbad.volume': 'Volume anomaly',
  'nbad.outbreak': 'Outbreak',
  sigma: 'Sigma rule',
  ioc: 'Indicator match',
  threshold: 'Threshold rule',
};

export function signalName(signal) {
  if (!signal) return 'Signal';
  if (SIGNALS[signal]) return SIGNALS[signal];
  const last = signal.split('.').pop().replace(/_/g, ' ');
  return last.charAt(0).toUpperCase() + last.slice(1);
}

export function kindName(kind) {
  return String(kind || '').replace(/_/g, ' ');
}

/**
 * The figures behind one detector signal as a sentence a person reads:
 * "observed 412 against a baseline of 3 (threshold 50) over 60 s; rule R; indicator I".
 */
export function evidenceFigures(ev) {
  const parts = [];
  if (ev.observed !== undefined && ev.observed !== null) {
    let p = `observed ${num(ev.observed)}`;
    if (ev.baseline !== undefined && ev.baseline !== null) {
      p += ` against a baseline of ${num(ev.baseline)}`;
      if (ev.threshold !== undefined && ev.threshold !== null) p += ` (threshold ${num(ev.threshold)})`;
    } else if (ev.threshold !== undefined && ev.threshold !== null) {
      p += ` against a threshold of ${num(ev.threshold)}`;
    }
    if (ev.window_secs) p += ` over ${duration(ev.window_secs)}`;
    parts.push(p);
  } else if (ev.window_secs) {
    parts.push(`over ${duration(ev.window_secs)}`);
  }
  if (ev.rule) parts.push(`matched rule ${ev.rule}`);
  if (ev.indicator) parts.push(`matched indicator ${ev.indicator}`);
  return parts.join('; ');
}

/** How far the observed value went past its threshold, as a factor (1 = at it). */
export function excess(ev) {
  const limit = ev.threshold ?? ev.baseline;
  if (ev.observed === undefined || ev.observed === null || !limit) return null;
  return Number(ev.observed) / Number(limit);
}

export function entityText(e) {
  return `${e.value}`;
}
