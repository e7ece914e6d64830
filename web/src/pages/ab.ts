// A/B results of one market: per cycle the redemption rate of each arm, the
// relative lift with its 95% interval (error bars), the p-value and the
// sample-ratio-mismatch check, and the cumulative view over cycles.
import { h, note, fmtInt, fmtPct, fmtSigned, fmtPValue, fmtDate, num, pEq } from '../dom';
import { get } from '../api';
import { chartBox, colors, pctAxis } from '../charts';
import type { Ctx } from '../main';

export function marketOf(ctx: Ctx): string {
  const m = ctx.params.get('market');
  return m && ctx.session.markets.includes(m) ? m : ctx.market;
}

export async function cyclesOf(market: string): Promise<any> {
  return get<any>(`/v1/cycles?market=${encodeURIComponent(market)}`);
}

export async function abPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const market = marketOf(ctx);
  root.appendChild(h('h1', null, `A/B results · ${market}`));
  const data = await cyclesOf(market);
  const cycles: any[] = Array.isArray(data?.cycles) ? data.cycles : [];
  if (cycles.length === 0) {
    root.appendChild(note('info', `No cycles have run in ${market} yet.`));
    return;
  }
  const srm = cycles.filter((c) => c.srm_warning);
  if (srm.length) {
    root.appendChild(note('warn', h('strong', null, 'Sample ratio mismatch: '),
      `the split of users between test and control is off in cycle${srm.length > 1 ? 's' : ''} `,
      srm.map((c) => c.key).join(', '), '. The lift of those cycles is not trustworthy.'));
  }

  const labels = cycles.map((c) => String(c.key));
  const lift = cycles.map((c) => {
    const ci = Array.isArray(c.lift_ci) ? c.lift_ci : [null, null];
    return { y: num(c.lift) ?? 0, yMin: num(ci[0]) ?? num(c.lift) ?? 0, yMax: num(ci[1]) ?? num(c.lift) ?? 0 };
  });
  root.appendChild(h('div', { class: 'grid two' },
    h('section', { class: 'card' }, h('h2', null, 'Relative lift per cycle (95% CI)'),
      chartBox('lift-chart', {
        type: 'barWithErrorBars',
        data: { labels, datasets: [{
          label: 'lift', data: lift,
          backgroundColor: cycles.map((c) => (c.srm_warning ? colors.warn : colors.lift) + '99'),
          borderColor: cycles.map((c) => (c.srm_warning ? colors.warn : colors.lift)),
          borderWidth: 1, errorBarColor: '#334155', errorBarWhiskerColor: '#334155',
        }] },
        options: { plugins: { legend: { display: false } }, scales: { y: pctAxis('lift (test vs control)') } },
      })),
    h('section', { class: 'card' }, h('h2', null, 'Redemption rate per arm'),
      chartBox('rates-chart', {
        type: 'bar',
        data: { labels, datasets: [
          { label: 'test', data: cycles.map((c) => num(c.arms?.test?.rate)), backgroundColor: colors.test },
          { label: 'control', data: cycles.map((c) => num(c.arms?.control?.rate)), backgroundColor: colors.control },
        ] },
        options: { scales: { y: pctAxis('redemption rate') } },
      }))));

  const cum: any[] = Array.isArray(data?.cumulative) ? data.cumulative : [];
  if (cum.length) {
    const ci = (c: any, i: number) => (Array.isArray(c?.lift_ci) ? num(c.lift_ci[i]) : null);
    root.appendChild(h('section', { class: 'card' },
      h('h2', null, 'Cumulative lift (all cycles up to each one, 95% CI band)'),
      chartBox('cumulative-chart', {
        type: 'line',
        data: { labels: cum.map((c, i) => String(c?.key ?? labels[i] ?? i + 1)), datasets: [
          { label: 'cumulative lift', data: cum.map((c) => num(c?.lift)), borderColor: colors.lift, backgroundColor: colors.lift, borderWidth: 2 },
          { label: 'CI low', data: cum.map((c) => ci(c, 0)), borderColor: 'transparent', pointRadius: 0, fill: false },
          { label: 'CI high', data: cum.map((c) => ci(c, 1)), borderColor: 'transparent', pointRadius: 0, fill: '-1', backgroundColor: '#16a34a22' },
        ] },
        options: {
          plugins: { legend: { labels: { filter: (item: any) => !item.text.startsWith('CI') } } },
          scales: { y: { ...pctAxis('lift (test vs control)'), suggestedMin: 0 } },
        },
      }, 240),
      h('p', { class: 'small muted' }, `Cumulative redemption rate: test ${fmtPct(cum[cum.length - 1]?.test_rate)}, `,
        `control ${fmtPct(cum[cum.length - 1]?.control_rate)}; lift ${fmtSigned(cum[cum.length - 1]?.lift)} `,
        `[${fmtSigned(ci(cum[cum.length - 1], 0))}, ${fmtSigned(ci(cum[cum.length - 1], 1))}], ${pEq(cum[cum.length - 1]?.p_value)}.`)));
  }

  root.appendChild(h('section', { class: 'card' }, h('h2', null, 'Cycles'),
    h('div', { class: 'scroll' }, h('table', { class: 'data', id: 'cycles-table' },
      h('thead', null, h('tr', null, ['Cycle', 'Start', 'Model', 'Test users', 'Test rate',
        'Control users', 'Control rate', 'Lift', '95% CI', 'p-value', 'SRM p'].map((t, i) => h('th', { class: i > 2 ? 'r' : '' }, t)))),
      h('tbody', null, cycles.slice().reverse().map((c) => {
        const ci = Array.isArray(c.lift_ci) ? c.lift_ci : [null, null];
        const sig = num(ci[0]) !== null && (ci[0] > 0 || ci[1] < 0);
        return h('tr', { class: c.srm_warning ? 'warn' : '' },
          h('td', { class: 'mono' }, String(c.key),
            num(c.lift) === null ? h('span', { class: 'muted small' }, ' no outcomes yet') : null),
          h('td', null, fmtDate(c.start_ts)),
          h('td', null, c.model_version ? `v${c.model_version}` : '–'),
          h('td', { class: 'r' }, fmtInt(c.arms?.test?.users)), h('td', { class: 'r' }, fmtPct(c.arms?.test?.rate)),
          h('td', { class: 'r' }, fmtInt(c.arms?.control?.users)), h('td', { class: 'r' }, fmtPct(c.arms?.control?.rate)),
          h('td', { class: `r ${sig ? (ci[0] > 0 ? 'pos' : 'neg') : ''}` }, fmtSigned(c.lift)),
          h('td', { class: 'r small' }, `[${fmtSigned(ci[0])}, ${fmtSigned(ci[1])}]`),
          h('td', { class: 'r' }, fmtPValue(c.p_value)),
          h('td', { class: 'r' }, c.srm_warning ? h('span', { class: 'badge warn' }, fmtPValue(c.srm_p_value)) : fmtPValue(c.srm_p_value)));
      }))))));
}
