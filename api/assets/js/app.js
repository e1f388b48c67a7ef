// The dashboard shell: login, hash routes (#/overview, #/incidents, #/incidents/ID,
// #/search), the live stream, and toasts. Views render into <main> and return a function
// that tears them down.

import { api, token, setToken, clearToken, onUnauthorized, ApiError } from './api.js';
import { LiveStream } from './stream.js';
import { h, replace } from './dom.js';
import { renderOverview } from './overview.js';
import { renderIncident, renderIncidentList } from './incident.js';
import { renderSearch } from './search.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const logoutButton = document.getElementById('logout');
const liveBadge = document.getElementById('live');
const toastBox = document.getElementById('toast');

let teardown = null;
let toastTimer = null;

const LIVE_TEXT = { live: 'live', reconnecting: 'reconnecting…', offline: 'offline', refused: 'live updates refused' };

const stream = new LiveStream((state) => {
  liveBadge.textContent = LIVE_TEXT[state] || state;
  liveBadge.className = `live ${state === 'live' ? 'on' : 'off'}`;
  liveBadge.dataset.state = state;
});

export function toast(text, kind = 'info') {
  toastBox.textContent = text;
  toastBox.className = `toast show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toastBox.className = 'toast'; }, 5000);
}

function logout(message) {
  clearToken();
  stream.stop();
  showLogin(message);
}

onUnauthorized(() => logout('The token was refused (expired or revoked). Sign in again.'));
logoutButton.addEventListener('click', () => logout('Signed out.'));

function showLogin(message) {
  if (teardown) { teardown(); teardown = null; }
  nav.hidden = true;
  logoutButton.hidden = true;
  document.title = 'Sign in — ncsoc';
  const input = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'token-help',
  });
  const error = h('p', { id: 'login-error', class: 'note error', role: 'alert' }, message && !message.startsWith('Signed') ? message : '');
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'login panel', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, 'Sign in to the national picture'),
    h('label', { for: 'token' }, 'Analyst token'),
    input,
    h('p', { id: 'token-help', class: 'muted' },
      'Paste the token you were given (ncsoc token create). It is kept in this tab only and sent as a bearer header.'),
    error,
    button);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const candidate = input.value.trim();
    if (!candidate) return;
    button.disabled = true;
    error.textContent = '';
    try {
      await api('/incidents?limit=1', { tokenOverride: candidate });
      setToken(candidate);
      input.value = '';
      if (!location.hash.startsWith('#/')) location.hash = '#/overview';
      route();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401
        ? 'This token is unknown, expired or revoked.'
        : e instanceof ApiError && e.status === 403
          ? 'This token cannot read the analyst API (forwarder tokens only ingest).'
          : `Cannot sign in: ${e.message}`;
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  if (message && message.startsWith('Signed')) toast(message);
  input.focus();
}

function route() {
  const hash = location.hash || '#/overview';
  if (!hash.startsWith('#/')) return; // in-page anchors such as the skip link
  if (!token()) { showLogin(); return; }
  nav.hidden = false;
  logoutButton.hidden = false;
  stream.start();
  const [path, query] = hash.slice(2).split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || '');
  if (teardown) { teardown(); teardown = null; }
  replace(main);
  const ctx = { params, toast, navigate: (to) => { location.hash = to; } };
  let view = parts[0] || 'overview';
  if (view === 'overview') {
    document.title = 'Overview — ncsoc';
    teardown = renderOverview(main, ctx);
  } else if (view === 'incidents' && parts[1]) {
    document.title = 'Incident — ncsoc';
    teardown = renderIncident(main, parts[1], ctx);
  } else if (view === 'incidents') {
    document.title = 'Incidents — ncsoc';
    teardown = renderIncidentList(main, ctx);
  } else if (view === 'search') {
    document.title = 'Search — ncsoc';
    teardown = renderSearch(main, ctx);
  } else {
    view = '';
    replace(main, h('section', { class: 'panel' }, h('h1', {}, 'Not found'),
      h('p', {}, h('a', { href: '#/overview' }, 'Back to the overview'))));
  }
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

let lastHash = location.hash;
window.addEventListener('hashchange', () => {
  const moved = location.hash.startsWith('#/');
  route();
  if (moved && lastHash !== location.hash) main.focus({ preventScroll: true });
  if (moved) lastHash = location.hash;
});
route();
