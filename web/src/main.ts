// The dashboard shell: the navigation, the login form and a client-side
// router. Each page is a function that fills the <main> element; the server
// answers every page path with index.html, so reloads and links work.
import './style.css';
import { h, clear, note } from './dom';
import { ApiError, Session, dropPrefetched, prefetch, session, setToken, token } from './api';

export interface Ctx {
  session: Session;
  market: string;           /* the market chosen in the header */
  params: URLSearchParams;
  go: (path: string) => void;
}

type Page = (root: HTMLElement, ctx: Ctx) => Promise<void>;

/* Each page is its own chunk (Chart.js only in the pages that chart), loaded
 * while the session is asked for. */
/* `data` names the API call a page starts with when it can be known from
 * the URL alone (market from ?market= or the one kept for the tab): it is
 * started together with the session. */
const marketParam = (q: URLSearchParams) => {
  const m = q.get('market') ?? sessionStorage.getItem(MARKET_KEY);
  return m ? [m] : [];
};
const routes: { path: string; title: string; load: () => Promise<Page>;
  data?: (q: URLSearchParams) => string[] }[] = [
  { path: '/', title: 'Markets', load: () => import('./pages/overview').then((m) => m.overviewPage),
    data: () => ['/v1/markets'] },
  { path: '/offers', title: 'Offers', load: () => import('./pages/offers').then((m) => m.offersPage) },
  { path: '/ab', title: 'A/B results', load: () => import('./pages/ab').then((m) => m.abPage),
    data: (q) => marketParam(q).map((m) => `/v1/cycles?market=${encodeURIComponent(m)}`) },
  { path: '/coverage', title: 'Coverage', load: () => import('./pages/coverage').then((m) => m.coveragePage),
    data: (q) => marketParam(q).map((m) => `/v1/cycles?market=${encodeURIComponent(m)}`) },
  { path: '/models', title: 'Models', load: () => import('./pages/models').then((m) => m.modelsPage),
    data: () => ['/v1/models'] },
  { path: '/monitoring', title: 'Monitoring', load: () => import('./pages/monitoring').then((m) => m.monitoringPage),
    data: (q) => marketParam(q).map((m) => `/v1/monitoring?market=${encodeURIComponent(m)}`) },
];

const MARKET_KEY = 'trove.market';
let current: Session | null = null;
let generation = 0;

function go(path: string): void {
  history.pushState(null, '', path);
  void render();
}

function renderNav(path: string): void {
  const nav = document.getElementById('nav')!;
  clear(nav);
  for (const r of routes) {
    nav.appendChild(h('a', {
      href: r.path,
      class: r.path === path ? 'active' : '',
      'data-nav': r.path,
    }, r.title));
  }
}

function renderWho(s: Session | null): void {
  const who = document.getElementById('who')!;
  clear(who);
  if (s && s.markets.length > 0) {
    const sel = h('select', {
      id: 'market', 'aria-label': 'market',
      onchange: () => {
        sessionStorage.setItem(MARKET_KEY, sel.value);
        go(`${location.pathname}?market=${encodeURIComponent(sel.value)}`);
      },
    }, s.markets.map((m) => h('option', { value: m }, m)));
    sel.value = chosenMarket(s);
    who.appendChild(h('label', { class: 'market' }, 'Market ', sel));
  }
  if (token()) {
    who.appendChild(h('span', { class: 'badge ok', id: 'role' },
      s?.admin ? 'admin' : 'token refused'));
    who.appendChild(h('button', {
      class: 'link', id: 'logout',
      onclick: () => { setToken(null); void render(); },
    }, 'Log out'));
  } else {
    who.appendChild(h('span', { class: 'badge', id: 'role' },
      s?.public_read ? 'read-only' : 'not logged in'));
    who.appendChild(h('button', {
      class: 'link', id: 'login-open',
      onclick: () => { void render(true); },
    }, 'Log in'));
  }
}

function chosenMarket(s: Session): string {
  const stored = sessionStorage.getItem(MARKET_KEY);
  if (stored && s.markets.includes(stored)) return stored;
  return s.markets[0] ?? '';
}

function loginForm(root: HTMLElement, why: string | null): void {
  const input = h('input', {
    id: 'token', type: 'password', placeholder: 'admin token',
    autocomplete: 'current-password', required: true,
  });
  const msg = h('div');
  const form = h('form', {
    class: 'login card', id: 'login',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      setToken(input.value.trim());
      try {
        const s = await session();
        if (!s.admin) throw new ApiError(403, 'the token was not accepted');
        void render();
      } catch (err) {
        setToken(null);
        clear(msg);
        msg.appendChild(note('error', (err as Error).message));
      }
    },
  },
  h('h2', null, 'Log in'),
  h('p', { class: 'muted' }, why ?? (current?.public_read
    ? 'Changes (uploads, flags, model switches) need the admin token of trove serve.'
    : 'This server shows its data to the holder of its admin token only (it runs without --public-read).')),
  h('label', null, 'Admin token ', input),
  h('button', { type: 'submit', class: 'primary' }, 'Log in'),
  msg);
  root.appendChild(form);
  input.focus();
}

async function render(forceLogin = false): Promise<void> {
  const my = ++generation;
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const route = routes.find((r) => r.path === path);
  const root = document.getElementById('page')!;
  renderNav(path);
  let s: Session | null = null;
  let why: string | null = null;
  const page = route ? route.load() : null;
  page?.catch(() => undefined);
  if (route?.data && !forceLogin && token() !== null) {
    route.data(new URLSearchParams(location.search)).forEach(prefetch);
  }
  try {
    s = await session();
  } catch (e) {
    why = (e as Error).message;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      if (token()) setToken(null);
    }
  }
  if (my !== generation) return;
  current = s;
  const asked = new URLSearchParams(location.search).get('market');
  if (s && asked && s.markets.includes(asked)) sessionStorage.setItem(MARKET_KEY, asked);
  renderWho(s);
  clear(root);
  if (s === null || forceLogin || (!s.admin && !s.public_read)) {
    dropPrefetched();
    loginForm(root, s === null ? why : null);
    return;
  }
  if (!route) {
    root.appendChild(note('error', `No page at ${path}.`));
    return;
  }
  document.title = `${route.title} · trove`;
  const ctx: Ctx = { session: s, market: chosenMarket(s),
    params: new URLSearchParams(location.search), go };
  const body = h('div', { class: 'page', 'data-page': route.path });
  root.appendChild(body);
  try {
    await (await page!)(body, ctx);
    body.setAttribute('data-ready', '1');
    performance.mark('trove-ready');
  } catch (e) {
    body.appendChild(note('error', `Could not load this page: ${(e as Error).message}`));
    body.setAttribute('data-ready', 'error');
  }
  dropPrefetched();
}

document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest('a');
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const href = a.getAttribute('href');
  if (!href || !href.startsWith('/') || href.startsWith('//')) return;
  e.preventDefault();
  go(href);
});
window.addEventListener('popstate', () => { void render(); });
export const sessionNow = () => current;
void render();
