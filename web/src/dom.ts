// Small DOM helpers: h() builds elements from a tag, attributes and children;
// the formatting helpers turn the API's numbers into text. No framework: the
// pages are plain functions that fill a container.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs?: Attrs | null, ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') {
        el.addEventListener(k.slice(2).toLowerCase(), v as EventListener);
      } else if (k === 'class') {
        el.className = String(v);
      } else if (k in el && typeof v !== 'string') {
        (el as unknown as Record<string, unknown>)[k] = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c === null || c === undefined || c === false) continue;
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

export function fmtInt(x: unknown): string {
  const v = num(x);
  return v === null ? '–' : Math.round(v).toLocaleString('en-US');
}

export function fmtPct(x: unknown, digits = 2): string {
  const v = num(x);
  return v === null ? '–' : `${(v * 100).toFixed(digits)}%`;
}

export function fmtSigned(x: unknown, digits = 1): string {
  const v = num(x);
  return v === null ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(digits)}%`;
}

export function fmtNum(x: unknown, digits = 3): string {
  const v = num(x);
  if (v === null) return '–';
  if (Math.abs(v) >= 1000) return fmtInt(v);
  return Number(v.toPrecision(digits)).toString();
}

export function fmtDate(ts: unknown): string {
  const v = num(ts);
  if (v === null || v <= 0) return '–';
  return new Date(v * 1000).toISOString().slice(0, 10);
}

export function fmtDateTime(ts: unknown): string {
  const v = num(ts);
  if (v === null || v <= 0) return '–';
  return new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

export function fmtAge(sec: unknown): string {
  const v = num(sec);
  if (v === null) return '–';
  if (v < 3600) return `${Math.max(0, Math.round(v / 60))} min`;
  if (v < 2 * 86400) return `${Math.round(v / 3600)} h`;
  return `${Math.round(v / 86400)} days`;
}

/* "p = 0.012" or "p < 0.001". */
export function pEq(x: unknown): string {
  const t = fmtPValue(x);
  return t.startsWith('<') ? `p ${t}` : `p = ${t}`;
}

export function fmtPValue(x: unknown): string {
  const v = num(x);
  if (v === null) return '–';
  return v < 0.001 ? '< 0.001' : v.toFixed(3);
}

/* A message box: kind is "error", "warn", "ok" or "info". */
export function note(kind: string, ...children: (Child | Child[])[]): HTMLElement {
  return h('div', { class: `note ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    ...children);
}

export function card(title: string, ...children: (Child | Child[])[]): HTMLElement {
  return h('section', { class: 'card' }, h('h2', null, title), ...children);
}
