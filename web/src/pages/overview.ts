// Markets overview: per market its users, active offers, the serving model
// (version, family, age) and the latest cycle's lift with its interval.
import { h, note, fmtInt, fmtAge, fmtSigned, fmtPct, fmtDate, num, pEq } from '../dom';
import { get } from '../api';
import type { Ctx } from '../main';

export async function overviewPage(root: HTMLElement, _ctx: Ctx): Promise<void> {
  const data = await get<any>('/v1/markets');
  const markets: any[] = Array.isArray(data?.markets) ? data.markets : [];
  root.appendChild(h('h1', null, 'Markets'));
  if (markets.length === 0) {
    root.appendChild(note('info', 'No markets in the store yet.'));
    return;
  }
  const grid = h('div', { class: 'grid' });
  for (const m of markets) {
    const model = m.model;
    const c = m.latest_cycle;
    const ci = Array.isArray(c?.lift_ci) ? c.lift_ci : null;
    const lift = num(c?.lift);
    const liftClass = lift === null ? '' : ci && ci[0] > 0 ? 'pos' : ci && ci[1] < 0 ? 'neg' : '';
    grid.appendChild(h('section', { class: 'card market-card', 'data-market': m.code },
      h('div', { class: 'card-head' },
        h('h2', null, m.code, m.name && m.name !== m.code ? h('span', { class: 'muted' }, ` ${m.name}`) : null),
        m.time_zone ? h('span', { class: 'muted small' }, m.time_zone) : null),
      h('div', { class: 'stats' },
        stat('Users', fmtInt(m.users)),
        stat('Active offers', `${fmtInt(m.active_offers)}`, `of ${fmtInt(m.offers)}`),
        stat('Model', model ? `v${model.version}` : 'none',
          model ? `${model.family ?? ''} · ${fmtAge(model.age_seconds)} old` : 'popularity fallback'),
        stat('Latest lift', fmtSigned(lift), c ? `cycle ${c.key}` : 'no cycle yet', liftClass)),
      c ? h('p', { class: 'small' },
        `Test ${fmtPct(c.test_rate)} vs control ${fmtPct(c.control_rate)}; `,
        ci ? `95% CI [${fmtSigned(ci[0])}, ${fmtSigned(ci[1])}], ` : '',
        `${pEq(c.p_value)}; started ${fmtDate(c.start_ts)}.`,
        c.srm_warning ? h('span', { class: 'badge warn' }, ' sample ratio mismatch') : null) : null,
      h('div', { class: 'links' },
        h('a', { href: `/ab?market=${encodeURIComponent(m.code)}` }, 'A/B results →'),
        h('a', { href: `/models?market=${encodeURIComponent(m.code)}` }, 'Models →'))));
  }
  root.appendChild(grid);
}

function stat(label: string, value: string, sub?: string, cls = ''): HTMLElement {
  return h('div', { class: 'stat' },
    h('div', { class: 'label' }, label),
    h('div', { class: `value ${cls}` }, value),
    sub ? h('div', { class: 'sub' }, sub) : null);
}
