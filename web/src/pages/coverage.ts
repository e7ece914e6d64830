// Coverage of one market over cycles: the share of the catalog that was
// assigned, the share taken by the five most assigned offers (popularity
// bias), and how many of the offers launched in each cycle were shown.
import { h, note, fmtInt, fmtPct } from '../dom';
import { chartBox, colors, pctAxis } from '../charts';
import { cyclesOf, marketOf } from './ab';
import type { Ctx } from '../main';

export async function coveragePage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const market = marketOf(ctx);
  root.appendChild(h('h1', null, `Coverage · ${market}`));
  const data = await cyclesOf(market);
  const cycles: any[] = Array.isArray(data?.cycles) ? data.cycles : [];
  if (cycles.length === 0) {
    root.appendChild(note('info', `No cycles have run in ${market} yet.`));
    return;
  }
  const labels = cycles.map((c) => String(c.key));
  root.appendChild(h('div', { class: 'grid two' },
    h('section', { class: 'card' }, h('h2', null, 'Catalog coverage and top-5 share'),
      chartBox('coverage-chart', {
        type: 'line',
        data: { labels, datasets: [
          { label: 'coverage', data: cycles.map((c) => c.coverage ?? null), borderColor: colors.test, backgroundColor: colors.test },
          { label: 'top-5 share', data: cycles.map((c) => c.top5_share ?? null), borderColor: colors.warn, backgroundColor: colors.warn },
        ] },
        options: { scales: { y: { ...pctAxis('share'), min: 0 } } },
      })),
    h('section', { class: 'card' }, h('h2', null, 'New offers: launched vs shown'),
      chartBox('new-offers-chart', {
        type: 'bar',
        data: { labels, datasets: [
          { label: 'launched', data: cycles.map((c) => c.new_items ?? 0), backgroundColor: colors.grey },
          { label: 'shown', data: cycles.map((c) => c.new_items_shown ?? 0), backgroundColor: colors.lift },
        ] },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'offers' } } } },
      }))));
  root.appendChild(h('section', { class: 'card' }, h('h2', null, 'Per cycle'),
    h('table', { class: 'data', id: 'coverage-table' },
      h('thead', null, h('tr', null, ['Cycle', 'Coverage', 'Top-5 share', 'New offers', 'New offers shown']
        .map((t, i) => h('th', { class: i ? 'r' : '' }, t)))),
      h('tbody', null, cycles.slice().reverse().map((c) => h('tr', null,
        h('td', { class: 'mono' }, String(c.key)), h('td', { class: 'r' }, fmtPct(c.coverage, 1)),
        h('td', { class: 'r' }, fmtPct(c.top5_share, 1)), h('td', { class: 'r' }, fmtInt(c.new_items)),
        h('td', { class: 'r' }, fmtInt(c.new_items_shown))))))));
}
