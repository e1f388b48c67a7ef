// Building DOM nodes without HTML strings: every text goes in as a text node, so nothing
// the API returns is ever parsed as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setProps(node, props, svg) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      node.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'class') {
      node.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    } else if (k === 'dataset') {
      Object.assign(node.dataset, v);
    } else if (!svg && (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected')) {
      node[k] = v;
    } else {
      node.setAttribute(k, v === true ? '' : String(v));
    }
  }
  return node;
}

/** An HTML element: h('button', {type: 'button', onClick: fn}, 'Label'). */
export function h(tag, props, ...children) {
  return append(setProps(document.createElement(tag), props, false), children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return append(setProps(document.createElementNS(SVG_NS, tag), attrs, true), children);
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function replace(node, ...children) {
  clear(node);
  return append(node, children);
}

/** A panel with a heading; returns {section, body}. */
export function panel(title, { id, actions } = {}) {
  const headingId = id ? `${id}-title` : undefined;
  const body = h('div', { class: 'panel-body' });
  const section = h('section', { class: 'panel', id, 'aria-labelledby': headingId },
    h('div', { class: 'panel-head' }, h('h2', { id: headingId }, title), actions || null),
    body);
  return { section, body };
}

/** "Loading", "nothing" and error placeholders inside a panel body. */
export function note(text, kind = 'muted') {
  return h('p', { class: `note ${kind}`, role: kind === 'error' ? 'alert' : null }, text);
}

/** A labelled form control (the control needs an id). */
export function field(label, control) {
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}
