// Monitoring of one market from GET /v1/monitoring: the overall status,
// request latency (p50 / p99), drift (PSI per feature and of the scores)
// and data-quality checks. The shape is read defensively: what is not
// recognised is shown as a plain list, and a missing endpoint says that
// monitoring is unavailable.
import { h, note, fmtNum, num } from '../dom';
import { ApiError, get } from '../api';
import { chartBox, colors } from '../charts';
import { marketOf } from './ab';
import type { Ctx } from '../main';

export async function monitoringPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const market = marketOf(ctx);
  root.appendChild(h('h1', null, `Monitoring · ${market}`));
  let data: any;
  try {
    data = await get<any>(`/v1/monitoring?market=${encodeURIComponent(market)}`);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501)) {
      root.appendChild(note('info', h('span', { id: 'monitoring-unavailable' },
        'Monitoring is unavailable on this server'), ` (${e.message}).`));
      return;
    }
    throw e;
  }
  if (typeof data?.status === 'string') {
    const kind = /ok|green|pass/i.test(data.status) ? 'ok' : /warn|amber/i.test(data.status) ? 'warn' : 'error';
    root.appendChild(note(kind, 'Status: ', h('strong', { id: 'monitoring-status' }, data.status)));
  }
  const grid = h('div', { class: 'grid two' });
  root.appendChild(grid);
  const lat = findLatency(data);
  if (lat.length) {
    grid.appendChild(h('section', { class: 'card' }, h('h2', null, 'Latency'),
      chartBox('latency-chart', {
        type: 'bar',
        data: { labels: lat.map((l) => l.name), datasets: [
          { label: 'p50', data: lat.map((l) => l.p50), backgroundColor: colors.test },
          { label: 'p99', data: lat.map((l) => l.p99), backgroundColor: colors.control },
        ] },
        options: { scales: { y: { beginAtZero: true, title: { display: true, text: lat[0].unit } } } },
      }),
      table(['Endpoint', `p50 (${lat[0].unit})`, `p99 (${lat[0].unit})`, 'Requests'],
        lat.map((l) => [l.name, fmtNum(l.p50), fmtNum(l.p99), fmtNum(l.count)]))));
  }
  const drift = findDrift(data);
  if (drift.length) {
    grid.appendChild(h('section', { class: 'card' }, h('h2', null, 'Drift (PSI, training window vs latest)'),
      chartBox('drift-chart', {
        type: 'bar',
        data: { labels: drift.map((d) => d.name), datasets: [{
          label: 'PSI', data: drift.map((d) => d.psi),
          backgroundColor: drift.map((d) => (d.psi >= 0.25 ? colors.warn : d.psi >= 0.1 ? colors.control : colors.lift)),
        }] },
        options: { indexAxis: 'y', plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, title: { display: true, text: 'PSI (0.1 watch, 0.25 act)' } } } },
      }, Math.max(160, 28 * drift.length + 60)),
      table(['Feature', 'PSI', 'Status'], drift.map((d) => [d.name, fmtNum(d.psi), d.status ?? '']))));
  }
  const rest = Object.entries(data ?? {}).filter(([k]) => !['status', 'market'].includes(k));
  root.appendChild(h('section', { class: 'card' }, h('h2', null, 'All checks'), tree(Object.fromEntries(rest))));
}

interface Lat { name: string; p50: number; p99: number; count: number | null; unit: string }

function findLatency(d: any): Lat[] {
  const out: Lat[] = [];
  const walk = (o: any, name: string, depth: number) => {
    if (!o || typeof o !== 'object' || depth > 4) return;
    const keys = Object.keys(o);
    const k50 = keys.find((k) => /^p50/.test(k));
    const k99 = keys.find((k) => /^p99/.test(k));
    if (k50 && k99 && num(o[k50]) !== null) {
      const unit = /_ms$/.test(k50) ? 'ms' : /_us$/.test(k50) ? 'µs' : /_ns$/.test(k50) ? 'ns' : /_s$/.test(k50) ? 's' : 'ms';
      out.push({ name: o.endpoint ?? o.name ?? name, p50: o[k50], p99: o[k99], count: num(o.count ?? o.requests), unit });
      return;
    }
    if (Array.isArray(o)) o.forEach((x, i) => walk(x, `${name}[${i}]`, depth + 1));
    else for (const k of keys) walk(o[k], name ? `${name}.${k}` : k, depth + 1);
  };
  walk(d?.latency ?? d, '', 0);
  return out;
}

interface Drift { name: string; psi: number; status?: string }

function findDrift(d: any): Drift[] {
  const out: Drift[] = [];
  const walk = (o: any, name: string, depth: number) => {
    if (!o || typeof o !== 'object' || depth > 4) return;
    if (num(o.psi) !== null) {
      out.push({ name: o.feature ?? o.name ?? name, psi: o.psi, status: o.status });
      return;
    }
    if (Array.isArray(o)) o.forEach((x, i) => walk(x, `${name}[${i}]`, depth + 1));
    else for (const k of Object.keys(o)) walk(o[k], name ? `${name}.${k}` : k, depth + 1);
  };
  walk(d?.drift ?? d, '', 0);
  return out;
}

function table(head: string[], rows: string[][]): HTMLElement {
  return h('table', { class: 'data' },
    h('thead', null, h('tr', null, head.map((t) => h('th', null, t)))),
    h('tbody', null, rows.map((r) => h('tr', null, r.map((c, i) => h('td', { class: i ? 'r' : '' }, c))))));
}

function tree(o: any): HTMLElement {
  if (o === null || typeof o !== 'object') return h('span', { class: 'mono' }, typeof o === 'number' ? fmtNum(o) : String(o));
  const entries = Array.isArray(o) ? o.map((v, i) => [String(i), v] as const) : Object.entries(o);
  return h('dl', { class: 'tree' }, entries.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, tree(v))]));
}
