// The dashboard in headless Chromium against a real `ncsoc serve` fed by a replay of
// replay-data/ (started by tests/dashboard_e2e.rs, which passes the address and tokens):
// log in, see the replay's incidents on the board, open one, change its status and see the
// change arrive live in a second browser session, a sector's traffic drawn against the band
// the server's detector learned (and the burst that left it), and a sector-limited token that
// does not see other sectors.
//
//   NCSOC_URL=http://127.0.0.1:PORT NCSOC_TOKEN=... NCSOC_TOKEN_2=... NCSOC_TOKEN_ENERGY=...
//   NCSOC_BAND_SECTOR=water NCSOC_BAND_SPIKE=RFC3339
//   [NCSOC_SCREENSHOTS=DIR] [CHROMIUM=/usr/bin/chromium] node --test dashboard.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const URL_ = need('NCSOC_URL');
const TOKEN = need('NCSOC_TOKEN');
const TOKEN_2 = need('NCSOC_TOKEN_2');
const TOKEN_ENERGY = need('NCSOC_TOKEN_ENERGY');
const BAND_SECTOR = need('NCSOC_BAND_SECTOR'); // a sector fed live, with a learned band
const BAND_SPIKE = Date.parse(need('NCSOC_BAND_SPIKE')); // a bin where its traffic left it
const SHOTS = process.env.NCSOC_SCREENSHOTS || '';
const VIEWPORT = { width: 1366, height: 768 };
const TIMEOUT = 20000;

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (tests/dashboard_e2e.rs sets it)`);
  return v;
}

let browser;
const problems = []; // page errors, console errors, CSP violations, off-origin requests

before(async () => {
  // Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir in
  // args); the other flags keep Chromium from reaching for a network this machine lacks.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function session(name) {
  const context = await browser.newContext({ viewport: VIEWPORT, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const origin = new URL(URL_).origin;
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${name}: console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:')) problems.push(`${name}: request off the origin: ${u}`);
    for (const t of [TOKEN, TOKEN_2, TOKEN_ENERGY]) {
      if (u.includes(t)) problems.push(`${name}: a token in a URL: ${u}`);
    }
  });
  return { context, page };
}

async function login(page, token) {
  await page.goto(`${URL_}/`);
  await page.getByLabel('Analyst token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#board .column').first().waitFor();
}

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `dashboard-${name}.png`) });
}

/** The view fits the 1366-pixel width: nothing scrolls sideways. */
async function fitsWidth(page) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= inner, `the page is ${scroll} px wide in a ${inner} px window`);
}

function noProblems() {
  assert.deepEqual(problems.splice(0), [], 'the pages logged errors or broke a rule');
}

async function apiVia(token, path) {
  const r = await fetch(`${URL_}/api/v1${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

async function incidentsVia(token, query = '') {
  const r = await fetch(`${URL_}/api/v1/incidents${query}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 200);
  return (await r.json()).incidents;
}

test('the page is served with a strict policy and no token in storage but the session', async () => {
  const r = await fetch(`${URL_}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const js = await fetch(`${URL_}/ui/js/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const again = await fetch(`${URL_}/ui/js/app.js`, { headers: { 'If-None-Match': js.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal((await fetch(`${URL_}/ui/nope.js`)).status, 404);

  const { context, page } = await session('login');
  await page.goto(`${URL_}/`);
  await shot(page, 'login');
  await page.getByLabel('Analyst token').fill('ncsoc_not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This token is unknown, expired or revoked.').waitFor();
  problems.splice(0); // the refused sign-in logs a 401 on the console, as it should
  await login(page, TOKEN);
  const stored = await page.evaluate(() => ({
    session: Object.keys(sessionStorage), local: Object.keys(localStorage), cookie: document.cookie,
  }));
  assert.deepEqual(stored, { session: ['ncsoc.token'], local: [], cookie: '' });
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('Analyst token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await context.close();
  noProblems();
});

test('log in, see the replay incident on the board, open it, change its status, see it live elsewhere', async () => {
  const incidents = await incidentsVia(TOKEN);
  const campaign = incidents.find((i) => i.kind === 'campaign');
  assert.ok(campaign, 'the replay opened a national campaign');
  assert.equal(campaign.status, 'new');

  const a = await session('analyst-a');
  await login(a.page, TOKEN);
  const card = a.page.locator(`#board [data-incident-id="${campaign.id}"] a.card`);
  await card.waitFor();
  assert.match(await card.textContent(), /National campaign/);
  assert.equal(await a.page.locator('#board .sev-col-critical .card').count(), 2);
  // The heatmap has a row per sector with the scores of the incidents' signals.
  const hot = a.page.locator('#heat rect.heat-critical');
  assert.ok(await hot.count() >= 3, 'the campaign colours energy, finance and health');
  await a.page.locator(`#traffic figure[data-sector="${BAND_SECTOR}"] polygon.band-area`).waitFor();
  await a.page.locator('#live[data-state="live"]').waitFor();
  await fitsWidth(a.page);
  await shot(a.page, 'overview');

  // A second analyst, in another browser session, watches the same incident.
  const b = await session('analyst-b');
  await login(b.page, TOKEN_2);
  await b.page.goto(`${URL_}/#/incidents/${campaign.id}`);
  await b.page.locator('#evidence li').first().waitFor();
  await b.page.locator('#live[data-state="live"]').waitFor();
  await b.page.evaluate(() => { window.notReloaded = true; });
  assert.equal(await b.page.locator('[data-field="status"]').textContent(), 'New');

  // Keyboard: the card is a link; Enter opens the incident.
  await card.focus();
  await a.page.keyboard.press('Enter');
  await a.page.waitForURL(`**/#/incidents/${campaign.id}`);
  await a.page.locator('#incident-title').waitFor();
  assert.match(await a.page.locator('#incident-title').textContent(), /National campaign/);
  const evidence = a.page.locator('#evidence ol.evidence > li');
  assert.equal(await evidence.count(), campaign.signal_count);
  assert.match(await evidence.first().textContent(), /probed 80 hosts/);
  assert.match(await evidence.first().textContent(), /Observed 80(\.\d+)? against a threshold of 20 over 60 s/);
  assert.equal(await a.page.locator('#signals svg circle.mark').count(), campaign.signal_count);
  await a.page.locator('#related .related-block[data-kind="flows"] table').waitFor();
  await fitsWidth(a.page);
  await shot(a.page, 'incident');

  // A merge into an incident that does not exist is refused, and said so.
  await a.page.getByLabel('Merge into').fill('01NOSUCHINCIDENT0000000000');
  await a.page.getByRole('button', { name: 'Merge' }).click();
  await a.page.locator('#toast.error', { hasText: 'Merge failed' }).waitFor();
  problems.splice(0); // the 404 is logged on the console

  await a.page.getByRole('button', { name: 'Acknowledge' }).click();
  await a.page.locator('[data-field="status"]', { hasText: 'Acknowledged' }).waitFor();
  assert.ok(await a.page.getByRole('button', { name: 'Acknowledge' }).isDisabled());

  // It arrives in the other session through the stream, without a reload.
  await b.page.locator('[data-field="status"]', { hasText: 'Acknowledged' }).waitFor();
  await b.page.locator('#history li', { hasText: 'Acknowledged' }).waitFor();
  assert.equal(await b.page.evaluate(() => window.notReloaded), true);

  // Assign and a note, then resolve; the overview in the second session drops it off the board.
  await a.page.getByLabel('Assignee').fill('duty-officer');
  await a.page.getByRole('button', { name: 'Assign' }).click();
  await b.page.locator('#facts dd', { hasText: 'duty-officer' }).waitFor();
  await a.page.getByLabel('Add a note').fill('Scanner blocked at the national edge.');
  await a.page.getByRole('button', { name: 'Add note' }).click();
  await b.page.locator('#notes li', { hasText: 'Scanner blocked at the national edge.' }).waitFor();
  await b.page.evaluate(() => { location.hash = '#/overview'; });
  await b.page.locator(`#board [data-incident-id="${campaign.id}"]`).waitFor();
  await a.page.getByRole('button', { name: 'Resolve' }).click();
  await b.page.locator(`#board [data-incident-id="${campaign.id}"]`).waitFor({ state: 'detached' });
  assert.equal(await b.page.evaluate(() => window.notReloaded), true);
  await a.page.getByRole('button', { name: 'Reopen' }).click();
  await b.page.locator(`#board [data-incident-id="${campaign.id}"]`).waitFor();

  await a.context.close();
  await b.context.close();
  noProblems();
});

test('the traffic chart draws the band the detector learned and marks where traffic left it', async () => {
  // What the dashboard asks for: six hours up to the end of the latest record's bin.
  const st = (await apiVia(TOKEN, '/sectors')).items.find((x) => x.sector === BAND_SECTOR);
  assert.ok(st && st.warm, `${BAND_SECTOR} is tracked and warm: ${JSON.stringify(st)}`);
  const bin = st.last_bin.width_seconds * 1000;
  const to = (Math.floor(Date.parse(st.latest_record) / bin) + 1) * bin;
  const chart = await apiVia(TOKEN, `/sectors/${BAND_SECTOR}/baseline?from=${new Date(to - 6 * 3600e3).toISOString()}&to=${new Date(to).toISOString()}`);
  const hi = (p) => p.expected + 3 * p.deviation;
  const lo = (p) => Math.max(0, p.expected - 3 * p.deviation);
  assert.ok(chart.points.length > 0 && chart.points.every((p) => p.expected !== null && p.deviation !== null));
  const above = chart.points.filter((p) => p.observed > hi(p));
  const outside = chart.points.filter((p) => p.observed > hi(p) || p.observed < lo(p));
  const spike = chart.points.find((p) => Date.parse(p.start) === BAND_SPIKE);
  assert.ok(spike && spike.observed > hi(spike), `the burst left the band: ${JSON.stringify(spike)}`);

  const { context, page } = await session('band');
  await login(page, TOKEN);
  const fig = page.locator(`#traffic figure[data-sector="${BAND_SECTOR}"]`);
  const area = fig.locator('polygon.band-area');
  await area.waitFor();
  // The learned band comes first, ahead of the sectors the detector has not tracked.
  assert.equal(await page.locator('#traffic figure').first().getAttribute('data-sector'), BAND_SECTOR);
  assert.match(await fig.locator('figcaption').textContent(), /flow records per 60 s against expected ± 3σ/);
  assert.equal(await fig.locator('figcaption .badge').textContent(), `${outside.length} outside the band`);
  assert.equal(await fig.locator('polyline.band-expected').count(), 1);
  assert.equal(await fig.locator('circle.band-out').count(), outside.length);
  assert.equal(await fig.locator('circle.band-out.above').count(), above.length);

  // The burst's mark: titled with its time, and drawn above the band's upper edge there.
  const hhmm = new Date(BAND_SPIKE).toISOString().slice(11, 16);
  const mark = fig.locator('circle.band-out.above', { has: page.locator('title', { hasText: `${hhmm} UTC: ${spike.observed} records, above the band` }) });
  assert.equal(await mark.count(), 1);
  const [cx, cy] = (await Promise.all([mark.getAttribute('cx'), mark.getAttribute('cy')])).map(Number);
  const corners = (await area.getAttribute('points')).split(' ').map((xy) => xy.split(',').map(Number));
  const upper = corners.slice(0, chart.points.length); // the upper edge, then the lower one back
  const edge = upper.find(([x]) => Math.abs(x - cx) < 0.1);
  assert.ok(edge, `the band has a corner at the burst (x ${cx})`);
  assert.ok(cy < edge[1], `the burst (y ${cy}) is drawn above the band's edge (y ${edge[1]})`);

  // A sector the server's detector never saw keeps the plain count, and says why.
  const energy = page.locator('#traffic figure[data-sector="energy"]');
  assert.match(await energy.locator('figcaption').textContent(), /no baseline/);
  assert.equal(await energy.locator('polygon.band-area').count(), 0);
  await fitsWidth(page);
  await context.close();
  noProblems();
});

test('the incident list filters, and search finds the scanner\'s flows by address and port and events by free text', async () => {
  const { context, page } = await session('search');
  await login(page, TOKEN);
  await page.getByRole('link', { name: 'Incidents', exact: true }).click();
  await page.locator('.results .card').first().waitFor();
  assert.equal(await page.locator('.results .card').count(), 2);
  await page.getByLabel('Sector').fill('transport');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL('**/#/incidents?sector=transport');
  await page.locator('.results .card').first().waitFor();
  assert.equal(await page.locator('.results .card').count(), 1);
  assert.match(await page.locator('.results .card').textContent(), /DNS tunnelling/);
  await fitsWidth(page);
  await shot(page, 'incidents');
  await page.getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('IP or CIDR').fill('203.0.113.77');
  await page.getByLabel('Port').fill('445');
  await page.getByLabel('Sector').fill('energy');
  await page.getByRole('button', { name: 'Search' }).click();
  const rows = page.locator('.results table.records tbody tr');
  await rows.first().waitFor();
  assert.ok(await rows.count() > 0);
  for (const text of await rows.allTextContents()) {
    assert.match(text, /203\.0\.113\.77/);
    assert.match(text, /energy/);
  }
  await fitsWidth(page);
  await shot(page, 'search');
  // Free text (any case) with a field filter, in the events of another sector.
  await page.getByRole('radio', { name: 'Events' }).check();
  await page.getByLabel('IP or CIDR').fill('');
  await page.getByLabel('Port').fill('');
  await page.getByLabel('Sector').fill('health');
  await page.getByLabel('Text or field=value').fill('JUMP-01 event.outcome=success');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL('**/#/search?*kind=events*');
  await page.getByText('Words are searched in the records; field=value narrows to a field.').waitFor();
  await rows.first().waitFor();
  assert.ok(await rows.count() > 0);
  for (const text of await rows.allTextContents()) {
    assert.match(text, /health/);
    assert.match(text, /outcome=success/);
  }
  await page.getByLabel('Text or field=value').fill('jump-01 no-such-word');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('No events match.').waitFor();
  assert.equal(await rows.count(), 0);
  await context.close();
  noProblems();
});

test('a sector-limited token does not see other sectors', async () => {
  const all = await incidentsVia(TOKEN);
  const tunnel = all.find((i) => i.kind === 'dns_tunnel');
  assert.ok(tunnel && tunnel.sectors.includes('transport'));
  const { context, page } = await session('energy');
  await login(page, TOKEN_ENERGY);
  await page.locator('#board .card').first().waitFor();
  const ids = await page.locator('#board [data-incident-id]').evaluateAll((els) => els.map((e) => e.dataset.incidentId));
  assert.ok(ids.length > 0);
  assert.ok(!ids.includes(tunnel.id), 'the transport incident is on the energy analyst\'s board');
  for (const inc of all.filter((i) => ids.includes(i.id))) assert.ok(inc.sectors.includes('energy'));
  const rows = await page.locator('#heat svg text.axis-label').allTextContents();
  assert.ok(!rows.includes('transport'), `heatmap rows: ${rows}`);
  await page.locator('#traffic figure').first().waitFor();
  const charted = await page.locator('#traffic figure').evaluateAll((els) => els.map((e) => e.dataset.sector));
  assert.ok(charted.includes('energy') && !charted.includes(BAND_SECTOR), `traffic charts: ${charted}`);
  assert.equal(await page.locator('#traffic polygon.band-area').count(), 0);
  await page.goto(`${URL_}/#/incidents/${tunnel.id}`);
  await page.getByText('No such incident (or not in your sectors).').waitFor();
  problems.splice(0); // the 404 is logged on the console
  await page.goto(`${URL_}/#/search?kind=events&sector=transport`);
  await page.locator('.results .note, .results table').first().waitFor();
  assert.equal(await page.locator('.results table.records tbody tr').count(), 0);
  await context.close();
  noProblems();
});
