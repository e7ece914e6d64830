// Monitoring of one market from GET /v1/monitoring: the overall status,
// request latency (p50 / p99), drift (PSI per feature and of the scores)
// and data-quality checks. The shape is read defensively: what is not
// recognised is shown as a plain list, and a missing endpoint says that
// monitoring is unavailable.
import { h, note, fmtNum, fmtInt, fmtAge, fmtDate, num } from '../dom';
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
  const statuses = ['status', 'quality_status', 'drift_status']
    .filter((k) => typeof data?.[k] === 'string')
    .map((k) => h('span', { class: 'stat-inline' }, k === 'status' ? 'overall ' : `${k.replace('_status', '')} `,
      h('strong', { id: `monitoring-${k.replace('_', '-')}`, class: `badge ${badgeOf(data[k])}` }, data[k])));
  if (statuses.length) root.appendChild(note(kindOf(data.status), statuses));

  const facts: HTMLElement[] = [];
  if (data?.model && typeof data.model === 'object') {
    facts.push(fact('Model', `v${data.model.version ?? '?'}`,
      `${data.model.family ?? ''}, ${fmtAge(data.model.age_seconds)} old`));
  }
  if (num(data?.latest_per_day) !== null) {
    const ratio = num(data?.trailing_per_day) ? data.latest_per_day / data.trailing_per_day : null;
    facts.push(fact('Events per day', fmtNum(data.latest_per_day),
      ratio === null ? '' : `${fmtNum(ratio * 100)}% of the trailing average (${fmtNum(data.trailing_per_day)})`));
  }
  if (data?.windows?.reference && data?.windows?.latest) {
    facts.push(fact('Windows', `${fmtDate(data.windows.reference.from)} – ${fmtDate(data.windows.reference.to)}`,
      `reference (${data.windows.reference.kind ?? 'training'}) vs latest ${fmtDate(data.windows.latest.from)} – ${fmtDate(data.windows.latest.to)}`));
  }
  if (facts.length) root.appendChild(h('section', { class: 'card' }, h('div', { class: 'stats' }, facts)));

  const grid = h('div', { class: 'grid two' });
  root.appendChild(grid);
  const ends = data?.latency?.endpoints;
  const mine = data?.latency?.market_endpoints;
  const lat = (Array.isArray(ends) ? findLatency(ends, '')
    .concat(Array.isArray(mine) ? findLatency(mine, ` (${market})`) : [])
    : findLatency(data?.latency ?? data, '')).filter((l) => (l.count ?? 1) > 0);
  grid.appendChild(h('section', { class: 'card' }, h('h2', null, 'Latency (p50 / p99)'),
    lat.length === 0 ? note('info', 'No requests recorded yet.') : [
      chartBox('latency-chart', {
        type: 'bar',
        data: { labels: lat.map((l) => l.name), datasets: [
          { label: 'p50', data: lat.map((l) => l.p50), backgroundColor: colors.test },
          { label: 'p99', data: lat.map((l) => l.p99), backgroundColor: colors.control },
        ] },
        options: { scales: { y: { type: 'logarithmic', title: { display: true, text: `${lat[0].unit} (log scale)` } } } },
      }),
      table(['Endpoint', `p50 (${lat[0].unit})`, `p99 (${lat[0].unit})`, 'Requests'],
        lat.map((l) => [l.name, fmtNum(l.p50), fmtNum(l.p99), fmtInt(l.count)]))]));
  const drift = findDrift(data?.drift ?? data);
  if (drift.length) {
    const warn = num(data?.drift?.warn) ?? 0.1;
    const alert = num(data?.drift?.alert) ?? 0.25;
    grid.appendChild(h('section', { class: 'card' }, h('h2', null, 'Drift: PSI, reference vs latest window'),
      chartBox('drift-chart', {
        type: 'bar',
        data: { labels: drift.map((d) => d.name), datasets: [{
          label: 'PSI', data: drift.map((d) => d.psi),
          backgroundColor: drift.map((d) => (d.psi >= alert ? colors.warn : d.psi >= warn ? colors.control : colors.lift)),
        }] },
        options: { indexAxis: 'y', plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, suggestedMax: warn,
            title: { display: true, text: `PSI (warn ${warn}, alert ${alert})` } } } },
      }, Math.max(160, 26 * drift.length + 60)),
      table(['Feature', 'PSI', 'Status'], drift.map((d) => [d.name, fmtNum(d.psi), d.status ?? '']))));
  }
  const quality: any[] = Array.isArray(data?.quality) ? data.quality : [];
  if (quality.length) {
    root.appendChild(h('section', { class: 'card' }, h('h2', null, 'Data quality (latest window)'),
      table(['Check', 'Value', 'Warn at', 'Alert at', 'Status'], quality.map((q) => [
        String(q.name ?? ''), fmtNum(q.value), fmtNum(q.warn), fmtNum(q.alert), String(q.status ?? '')]))));
  }
  root.appendChild(h('details', { class: 'card raw' }, h('summary', null, 'Everything the server reported'),
    tree(data)));
}

function kindOf(status: unknown): string {
  return /ok|green|pass/i.test(String(status)) ? 'ok' : /warn|amber/i.test(String(status)) ? 'warn' : 'error';
}

function badgeOf(status: unknown): string {
  const k = kindOf(status);
  return k === 'error' ? 'warn' : k === 'warn' ? 'amber' : 'ok';
}

function fact(label: string, value: string, sub: string): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'label' }, label),
    h('div', { class: 'value' }, value), h('div', { class: 'sub' }, sub));
}

interface Lat { name: string; p50: number; p99: number; count: number | null; unit: string }

function findLatency(d: any, suffix: string): Lat[] {
  const out: Lat[] = [];
  const walk = (o: any, name: string, depth: number) => {
    if (!o || typeof o !== 'object' || depth > 4) return;
    const keys = Object.keys(o);
    const k50 = keys.find((k) => /^p50/.test(k));
    const k99 = keys.find((k) => /^p99/.test(k));
    if (k50 && k99 && num(o[k50]) !== null) {
      const unit = /_ms$/.test(k50) ? 'ms' : /_us$/.test(k50) ? 'µs' : /_ns$/.test(k50) ? 'ns' : /_s$/.test(k50) ? 's' : 'ms';
      out.push({ name: `${o.endpoint ?? o.name ?? name}${suffix}`, p50: o[k50], p99: o[k99], count: num(o.count ?? o.requests), unit });
      return;
    }
    if (Array.isArray(o)) o.forEach((x, i) => walk(x, `${name}[${i}]`, depth + 1));
    else for (const k of keys) walk(o[k], name ? `${name}.${k}` : k, depth + 1);
  };
  walk(d, '', 0);
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
  walk(d, '', 0);
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
