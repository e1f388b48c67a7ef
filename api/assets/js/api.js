// The public API under /api/v1, called with the analyst token as a bearer header. The token
// lives in sessionStorage (gone when the tab closes) and never goes in a URL.

const KEY = 'ncsoc.token';
const BASE = '/api/v1';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** Called when the server says the token is no longer good (401). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    q.set(k, Array.isArray(v) ? v.join(',') : String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function authHeaders(extra) {
  return { Authorization: `Bearer ${token() || ''}`, ...extra };
}

/** One API call; resolves to the parsed JSON body (null when empty), rejects with ApiError. */
export async function api(path, { method = 'GET', body, signal, tokenOverride } = {}) {
  const headers = { Accept: 'application/json' };
  headers.Authorization = `Bearer ${tokenOverride ?? token() ?? ''}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!r.ok) {
    const err = new ApiError(r.status, data?.error?.code || `http_${r.status}`,
      data?.error?.message || `${r.status} ${r.statusText}`);
    if (r.status === 401 && tokenOverride === undefined) unauthorized(err);
    throw err;
  }
  return data;
}

/** Whether an endpoint is not there at all (an older server), as opposed to an API answer. */
export function missing(e) {
  return e instanceof ApiError && ((e.status === 404 && e.code === 'http_404') || e.status === 405);
}
