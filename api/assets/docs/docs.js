// Renders /api/v1/openapi.json as a readable page. No libraries, no network beyond this server.
'use strict';

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function resolve(doc, schema, depth) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split('/').pop();
    return resolve(doc, (doc.components && doc.components.schemas || {})[name], depth + 1);
  }
  return schema;
}

function schemaText(doc, schema) {
  return JSON.stringify(schema, (k, v) => {
    if (v && typeof v === 'object' && v.$ref) {
      return { $ref: v.$ref.split('/').pop(), ...resolve(doc, v, 0) };
    }
    return v;
  }, 2);
}

function operation(doc, path, method, op) {
  const body = el('div', { class: 'op' });
  if (op.description) body.append(el('p', {}, op.description));
  const params = op.parameters || [];
  if (params.length) {
    const t = el('table', {}, el('tr', {}, el('th', {}, 'parameter'), el('th', {}, 'in'),
      el('th', {}, 'required'), el('th', {}, 'type'), el('th', {}, 'description')));
    for (const p of params) {
      const s = resolve(doc, p.schema, 0) || {};
      t.append(el('tr', {}, el('td', {}, p.name), el('td', {}, p.in), el('td', {}, p.required ? 'yes' : 'no'),
        el('td', {}, s.type || (s.enum ? 'enum' : '') + (s.enum ? ': ' + s.enum.join(', ') : '')),
        el('td', {}, p.description || '')));
    }
    body.append(t);
  }
  const req = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
  if (req) body.append(el('h4', {}, 'Request body'), el('pre', {}, schemaText(doc, req.schema)));
  const rs = el('table', {}, el('tr', {}, el('th', {}, 'status'), el('th', {}, 'meaning')));
  for (const [code, r] of Object.entries(op.responses || {})) rs.append(el('tr', {}, el('td', {}, code), el('td', {}, r.description || '')));
  body.append(el('h4', {}, 'Responses'), rs);
  return el('details', {}, el('summary', {}, el('span', { class: 'method ' + method }, method.toUpperCase()),
    el('span', { class: 'path' }, path), ' ', op.summary || ''), body);
}

async function main() {
  const root = document.getElementById('doc');
  try {
    const res = await fetch('/api/v1/openapi.json');
    const doc = await res.json();
    root.textContent = '';
    if (doc.info && doc.info.description) root.append(el('p', {}, doc.info.description));
    const groups = new Map();
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || 'api';
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operation(doc, '/api/v1' + path, method, op));
      }
    }
    for (const [tag, ops] of [...groups.entries()].sort()) root.append(el('h2', {}, tag), ...ops);
  } catch (e) {
    root.textContent = 'Cannot load the API description: ' + e;
  }
}

main();
