// The live stream (GET /api/v1/stream, server-sent events). EventSource cannot send an
// Authorization header, and the token must not go in a URL, so the stream is read with
// fetch() and a streaming body reader, and the event-stream format is parsed here.
// Reconnects with backoff and resumes with Last-Event-ID.

import { authHeaders } from './api.js';

/** Every change that arrives: `changes.addEventListener('change', e => e.detail)`. */
export const changes = new EventTarget();

/** Parses text/event-stream incrementally; calls onEvent({id, event, data}). */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.data = [];
    this.event = '';
    this.id = null;
    this.lastId = null;
    this.retry = null;
  }

  push(chunk) {
    this.buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone \r at the end of the buffer may be the first half of \r\n.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.id !== null) this.lastId = this.id;
      if (this.data.length) {
        this.onEvent({ id: this.lastId, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

export class LiveStream {
  constructor(onState) {
    this.onState = onState;
    this.lastId = null;
    this.stopped = true;
    this.ctrl = null;
    this.backoff = 1000;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.ctrl) this.ctrl.abort();
    this.onState('offline');
  }

  async loop() {
    while (!this.stopped) {
      this.ctrl = new AbortController();
      let retryIn = this.backoff;
      try {
        const headers = authHeaders({ Accept: 'text/event-stream' });
        if (this.lastId !== null) headers['Last-Event-ID'] = this.lastId;
        const r = await fetch('/api/v1/stream', {
          headers, signal: this.ctrl.signal, cache: 'no-store', credentials: 'omit',
        });
        if (r.status === 401 || r.status === 403) {
          this.onState('refused');
          this.stopped = true;
          return;
        }
        if (!r.ok || !r.body) throw new Error(`stream answered ${r.status}`);
        this.onState('live');
        this.backoff = 1000;
        const parser = new SseParser((ev) => this.dispatch(ev));
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
          if (parser.lastId !== null) this.lastId = parser.lastId;
          if (parser.retry !== null) retryIn = parser.retry;
        }
      } catch (e) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.onState('reconnecting');
      await new Promise((res) => setTimeout(res, retryIn));
      this.backoff = Math.min(this.backoff * 2, 30000);
    }
  }

  dispatch(ev) {
    if (!ev.event.startsWith('incident.')) return;
    let data;
    try { data = JSON.parse(ev.data); } catch { return; }
    if (!data || !data.incident) return;
    changes.dispatchEvent(new CustomEvent('change', { detail: data }));
  }
}
