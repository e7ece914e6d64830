// Model versions of each market with their offline metrics, the version
// being served, and the activate / rollback buttons (admin only).
import { h, clear, note, fmtDateTime, fmtNum, num } from '../dom';
import { api, get } from '../api';
import type { Ctx } from '../main';

export async function modelsPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const admin = ctx.session.admin;
  const only = ctx.params.get('market');
  const data = await get<any>('/v1/models');
  const markets: any[] = (Array.isArray(data?.markets) ? data.markets : [])
    .filter((m: any) => !only || m.market === only);
  root.appendChild(h('h1', null, 'Models'));
  const status = h('div', { id: 'models-status' });
  root.appendChild(status);
  if (!admin) root.appendChild(note('info', 'Read-only: log in with the admin token to activate or roll back.'));
  for (const m of markets) {
    const versions: any[] = Array.isArray(m.versions)
      ? m.versions.slice().sort((a: any, b: any) => (b.version ?? 0) - (a.version ?? 0)) : [];
    const keys = metricKeys(versions);
    const k = num(versions[0]?.metrics?.k);
    const label = (key: string) => `${key.replace(/_/g, ' ')}${k !== null && /^(precision|recall|ndcg|map|hit_rate)$/.test(key) ? `@${k}` : ''}`;
    const act = async (path: string, body: unknown, what: string) => {
      clear(status);
      try {
        const r = await api<any>('POST', path, body);
        status.appendChild(note('ok', `${m.market}: ${what}; now serving v${r?.version ?? '?'}.`));
        const again = h('div');
        await modelsPage(again, ctx);
        clear(root);
        while (again.firstChild) root.appendChild(again.firstChild);
        const st = root.querySelector('#models-status');
        st?.replaceWith(status);
      } catch (e) {
        status.appendChild(note('error', `${m.market}: ${(e as Error).message}`));
      }
    };
    root.appendChild(h('section', { class: 'card', 'data-market': m.market },
      h('div', { class: 'card-head' },
        h('h2', null, `${m.market} `, h('span', { class: 'muted' }, 'serving '),
          h('span', { class: 'serving', 'data-serving': m.serving_version ?? '' },
            m.serving_version ? `v${m.serving_version}` : 'no model (popularity fallback)')),
        admin ? h('button', {
          class: 'danger rollback', 'data-market': m.market,
          disabled: versions.length < 2,
          onclick: () => act(`/v1/models/${encodeURIComponent(m.market)}/rollback`, {}, 'rolled back'),
        }, 'Roll back') : null),
      versions.length === 0 ? note('info', 'No model has been trained for this market.') :
        h('div', { class: 'scroll' }, h('table', { class: 'data models-table' },
          h('thead', null, h('tr', null, h('th', null, 'Version'), h('th', null, 'Family'),
            h('th', null, 'Trained (UTC)'), keys.map((key) => h('th', { class: 'r' }, label(key))),
            h('th', null, 'Status'), admin ? h('th', null, '') : null)),
          h('tbody', null, versions.map((v) => {
            const serving = v.version === m.serving_version;
            return h('tr', { class: serving ? 'serving-row' : '', 'data-version': v.version },
              h('td', { class: 'mono' }, `v${v.version}`), h('td', null, v.family ?? ''),
              h('td', null, fmtDateTime(v.created_ts)),
              keys.map((key) => h('td', { class: 'r' }, fmtNum(flat(v.metrics)[key]))),
              h('td', null, serving ? h('span', { class: 'badge ok' }, 'serving')
                : v.pruned ? h('span', { class: 'badge' }, 'pruned') : ''),
              admin ? h('td', null, serving || v.pruned ? null : h('button', {
                class: 'activate', 'data-version': v.version,
                onclick: () => act(`/v1/models/${encodeURIComponent(m.market)}/activate`,
                  { version: v.version }, `activated v${v.version}`),
              }, 'Activate')) : null);
          }))))));
  }
}

/* The numeric metrics, one level of nesting flattened ("holdout.ndcg"). */
function flat(o: any): Record<string, number> {
  const out: Record<string, number> = {};
  if (!o || typeof o !== 'object') return out;
  for (const [k, v] of Object.entries(o)) {
    if (num(v) !== null) out[k] = v as number;
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) if (num(v2) !== null) out[`${k}.${k2}`] = v2 as number;
    }
  }
  return out;
}

/* The metric columns: those most versions have, at most seven. */
function metricKeys(versions: any[]): string[] {
  const count = new Map<string, number>();
  for (const v of versions) for (const k of Object.keys(flat(v.metrics))) count.set(k, (count.get(k) ?? 0) + 1);
  const prefer = /precision|recall|ndcg|map|auc|mrr|hit|coverage|loss/i;
  const skip = /window|_ts$|^k$|seed/i;
  return [...count.entries()]
    .filter(([k]) => !skip.test(k))
    .sort((a, b) => (Number(prefer.test(b[0])) - Number(prefer.test(a[0]))) || (b[1] - a[1]) || a[0].localeCompare(b[0]))
    .slice(0, 7).map(([k]) => k);
}
