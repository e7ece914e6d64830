// Offers: a paged, searchable, sortable table of the catalog with switches for the
// active / pinned / blocked flags and start / end dates (PATCH
// /v1/items/{id}), and a CSV upload that first previews the file (dry run:
// accepted rows, rejected rows with their line and reason) and imports it on
// confirmation.
import { h, clear, note, fmtInt, fmtDateTime } from '../dom';
import { api, get } from '../api';
import type { Ctx } from '../main';

const PAGE = 50;
type Flag = 'active' | 'pinned' | 'blocked';

export async function offersPage(root: HTMLElement, ctx: Ctx): Promise<void> {
  const admin = ctx.session.admin;
  const q = ctx.params.get('q') ?? '';
  const flag = ctx.params.get('flag') ?? '';
  const offset = Math.max(0, Number(ctx.params.get('offset') ?? 0) || 0);
  const sort = ctx.params.get('sort') ?? '';
  const status = h('div', { id: 'offers-status' });

  root.appendChild(h('h1', null, 'Offers'));
  if (admin) root.appendChild(uploadCard(ctx));

  const search = h('input', { id: 'offer-search', type: 'search', value: q, placeholder: 'id or title' });
  const flagSel = h('select', { id: 'offer-flag', 'aria-label': 'flag filter' },
    ['', 'active', 'inactive', 'pinned', 'blocked'].map((f) =>
      h('option', { value: f, selected: f === flag }, f === '' ? 'all offers' : f)));
  const apply = (off: number, by: string = sort) => {
    const p = new URLSearchParams();
    if (search.value) p.set('q', search.value);
    if (flagSel.value) p.set('flag', flagSel.value);
    if (by) p.set('sort', by);
    if (off > 0) p.set('offset', String(off));
    ctx.go(`/offers${p.toString() ? `?${p}` : ''}`);
  };
  const form = h('form', { class: 'toolbar', onsubmit: (e: Event) => { e.preventDefault(); apply(0); } },
    search, flagSel, h('button', { type: 'submit' }, 'Search'));

  const p = new URLSearchParams({ offset: String(offset), limit: String(PAGE) });
  if (q) p.set('q', q);
  if (flag) p.set('flag', flag);
  if (sort) p.set('sort', sort);
  const data = await get<any>(`/v1/items?${p}`);
  const items: any[] = Array.isArray(data?.items) ? data.items : [];
  const total = Number(data?.total ?? items.length);

  /* A column header sorts by its key (the server sorts before paging);
   * clicked again it reverses. */
  const col = (label: string, key: string, cls?: string) => {
    const state = sort === key ? 'ascending' : sort === `-${key}` ? 'descending' : 'none';
    return h('th', { class: cls, 'aria-sort': state },
      h('button', {
        type: 'button', class: 'sort', 'data-sort': key,
        onclick: () => apply(0, sort === key ? `-${key}` : key),
      }, label, state === 'ascending' ? ' ▲' : state === 'descending' ? ' ▼' : ''));
  };
  const table = h('table', { class: 'data', id: 'offers-table' },
    h('thead', null, h('tr', null,
      col('Offer', 'id'), col('Title', 'title'),
      col('Active', 'active', 'c'), col('Pinned', 'pinned', 'c'),
      col('Blocked', 'blocked', 'c'), col('Start (UTC)', 'start'),
      col('End (UTC)', 'end'), col('Created', 'created'))),
    h('tbody', null, items.map((it) => row(it, admin, status))));

  const pager = h('div', { class: 'pager' },
    h('span', { class: 'muted' }, total === 0 ? 'no offers'
      : `${fmtInt(offset + 1)}–${fmtInt(Math.min(total, offset + items.length))} of ${fmtInt(total)}`),
    h('button', { disabled: offset === 0, onclick: () => apply(Math.max(0, offset - PAGE)) }, '← Previous'),
    h('button', { disabled: offset + items.length >= total, onclick: () => apply(offset + PAGE) }, 'Next →'));

  root.appendChild(h('section', { class: 'card' },
    h('div', { class: 'card-head' }, h('h2', null, 'Catalog'), form),
    status,
    admin ? null : note('info', 'Read-only: log in with the admin token to change flags and dates.'),
    h('div', { class: 'scroll' }, table), pager));
}

function row(it: any, admin: boolean, status: HTMLElement): HTMLElement {
  const id = String(it.id);
  const sw = (f: Flag) => h('td', { class: 'c' }, h('input', {
    type: 'checkbox', class: `switch flag-${f}`, checked: !!it[f], disabled: !admin,
    'aria-label': `${f} ${id}`, 'data-item': id, 'data-flag': f,
    onchange: (e: Event) => {
      const box = e.target as HTMLInputElement;
      void patch(id, { [f]: box.checked }, status, () => { box.checked = !box.checked; });
    },
  }));
  /* Dates as "YYYY-MM-DD HH:MM" (UTC) in plain text fields: light to draw
   * in a long table; empty clears the date. */
  const date = (key: 'start_ts' | 'end_ts') => {
    const v = Number(it[key] ?? 0);
    let shown = v > 0 ? fmtDateTime(v) : '';
    const input = h('input', {
      type: 'text', class: `date ${key}`, disabled: !admin, 'data-item': id, value: shown,
      placeholder: admin ? 'YYYY-MM-DD HH:MM' : '', size: 16, 'aria-label': `${key} ${id}`,
      onchange: () => {
        const text = input.value.trim();
        const t = text === '' ? null : parseUtc(text);
        if (t === undefined) {
          clear(status);
          status.appendChild(note('error', `Offer ${id}: "${text}" is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM, UTC).`));
          input.value = shown;
          return;
        }
        void patch(id, { [key]: t }, status, () => { input.value = shown; })
          .then((ok) => { if (ok) shown = input.value = t === null ? '' : fmtDateTime(t); });
      },
    });
    return h('td', null, input);
  };
  return h('tr', { 'data-item': id, class: it.blocked ? 'blocked' : it.active ? '' : 'inactive' },
    h('td', { class: 'mono' }, id),
    h('td', null, it.title ?? ''),
    sw('active'), sw('pinned'), sw('blocked'),
    date('start_ts'), date('end_ts'),
    h('td', { class: 'muted small' }, fmtDateTime(it.created_ts)));
}

/* "2026-05-01" or "2026-05-01 12:30" (UTC) -> Unix seconds; undefined when
 * it is not a date. */
function parseUtc(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?$/.exec(text);
  if (!m) return undefined;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], m[4] ? +m[4] : 0, m[5] ? +m[5] : 0);
  return Number.isFinite(t) && t >= 0 ? t / 1000 : undefined;
}

/* PATCH the offer; on failure undo() puts the control back. Resolves to
 * whether the change was saved. */
async function patch(id: string, body: Record<string, unknown>, status: HTMLElement,
  undo: () => void): Promise<boolean> {
  clear(status);
  try {
    await api('PATCH', `/v1/items/${encodeURIComponent(id)}`, body);
    const what = Object.entries(body).map(([k, v]) => {
      if (typeof v === 'boolean') return `${v ? 'now' : 'no longer'} ${k}`;
      const name = k === 'start_ts' ? 'start' : 'end';
      return v === null ? `${name} date cleared` : `${name} set to ${fmtDateTime(v)} UTC`;
    }).join(', ');
    status.appendChild(note('ok', `Offer ${id}: ${what}.`));
    const tr = status.closest('section')?.querySelector(`tr[data-item="${CSS.escape(id)}"]`);
    if (tr && 'blocked' in body) tr.classList.toggle('blocked', !!body.blocked);
    return true;
  } catch (e) {
    undo();
    status.appendChild(note('error', `Offer ${id}: ${(e as Error).message}`));
    return false;
  }
}

function uploadCard(ctx: Ctx): HTMLElement {
  const file = h('input', { type: 'file', id: 'csv-file', accept: '.csv,text/csv' });
  const out = h('div', { id: 'upload-result' });
  let text = '';
  const send = async (dry: boolean) => {
    clear(out);
    out.appendChild(h('p', { class: 'muted' }, dry ? 'Checking the file…' : 'Importing…'));
    try {
      const r = await api<any>('POST', `/v1/items?dry_run=${dry}`, text, 'text/csv');
      clear(out);
      out.appendChild(report(r, dry, () => void send(false), ctx));
    } catch (e) {
      clear(out);
      out.appendChild(note('error', (e as Error).message));
    }
  };
  file.addEventListener('change', async () => {
    const f = file.files?.[0];
    if (!f) return;
    text = await f.text();
    await send(true);
  });
  return h('section', { class: 'card', id: 'upload' },
    h('h2', null, 'Upload offers (CSV)'),
    h('p', { class: 'muted small' },
      'Header: ', h('code', null, 'id,title,active,pinned,blocked,start,end'),
      ' then feature columns. The file is checked first (nothing is written); import it after the preview.'),
    file, out);
}

function report(r: any, dry: boolean, confirm: () => void, ctx: Ctx): HTMLElement {
  const rejected: any[] = Array.isArray(r?.rejected) ? r.rejected : [];
  const preview: any[] = Array.isArray(r?.preview) ? r.preview : [];
  const box = h('div', { class: 'upload-report', 'data-dry-run': dry ? '1' : '0' });
  box.appendChild(note(rejected.length ? 'warn' : 'ok',
    dry ? 'Preview: ' : 'Imported: ',
    h('strong', { id: 'accepted-count' }, fmtInt(r?.accepted)), ' of ', fmtInt(r?.rows),
    ' rows accepted, ', h('strong', { id: 'rejected-count' }, fmtInt(rejected.length)), ' rejected',
    dry ? '.' : ` (${fmtInt(r?.created)} created, ${fmtInt(r?.updated)} updated).`));
  if (rejected.length) {
    box.appendChild(h('h3', null, 'Rejected rows'));
    box.appendChild(h('table', { class: 'data', id: 'rejected-table' },
      h('thead', null, h('tr', null, h('th', null, 'Line'), h('th', null, 'Reason'), h('th', null, 'Row'))),
      h('tbody', null, rejected.map((x) => h('tr', null,
        h('td', { class: 'mono' }, String(x.line)), h('td', null, x.reason ?? ''),
        h('td', { class: 'mono small' }, x.raw ?? ''))))));
  }
  if (dry && preview.length) {
    box.appendChild(h('h3', null, `Accepted rows (first ${preview.length})`));
    box.appendChild(h('table', { class: 'data', id: 'preview-table' },
      h('thead', null, h('tr', null, ['Offer', 'Title', 'Active', 'Pinned', 'Blocked', 'Start', 'End']
        .map((t) => h('th', null, t)))),
      h('tbody', null, preview.map((it) => h('tr', null,
        h('td', { class: 'mono' }, String(it.id)), h('td', null, it.title ?? ''),
        h('td', null, it.active ? 'yes' : 'no'), h('td', null, it.pinned ? 'yes' : 'no'),
        h('td', null, it.blocked ? 'yes' : 'no'), h('td', null, fmtDateTime(it.start_ts)),
        h('td', null, fmtDateTime(it.end_ts)))))));
  }
  if (dry) {
    box.appendChild(h('div', { class: 'actions' },
      h('button', { class: 'primary', id: 'import', disabled: !(Number(r?.accepted) > 0), onclick: confirm },
        `Import ${fmtInt(r?.accepted)} rows`)));
  } else {
    box.appendChild(h('div', { class: 'actions' },
      h('button', { id: 'reload-offers', onclick: () => ctx.go('/offers') }, 'Show the catalog')));
  }
  return box;
}
