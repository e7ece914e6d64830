// The JSON API client. The admin token lives in sessionStorage (gone when the
// tab closes) and goes out as "Authorization: Bearer"; every answer is parsed
// as JSON, and an error answer ({"error":{"status","message"}}) becomes an
// ApiError carrying the status and the server's message.

const TOKEN_KEY = 'trove.token';

export class ApiError extends Error {
  status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t: string | null): void {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export async function api<T = any>(method: string, path: string,
  body?: unknown, contentType = 'application/json'): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers['Content-Type'] = contentType;
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${(e as Error).message})`);
  }
  const text = await res.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const msg = data?.error?.message ?? (text.slice(0, 200) || res.statusText);
    throw new ApiError(res.status, msg);
  }
  return data as T;
}

/* GETs started before the page asked for them (while the session is
 * fetched); each is handed out once, so a later visit fetches afresh. */
const early = new Map<string, Promise<any>>();

export function prefetch(path: string): void {
  if (early.has(path)) return;
  const p = api('GET', path);
  p.catch(() => undefined);
  early.set(path, p);
}

/* Forget what the page did not use (a login form came instead, or it chose
 * another market), so that nothing stale is handed out later. */
export function dropPrefetched(): void {
  early.clear();
}

export function get<T = any>(path: string): Promise<T> {
  const p = early.get(path);
  if (p) {
    early.delete(path);
    return p;
  }
  return api<T>('GET', path);
}

export interface Session {
  admin: boolean;
  public_read: boolean;
  markets: string[];
}

export async function session(): Promise<Session> {
  const s = await get<any>('/v1/session');
  const markets = Array.isArray(s?.markets)
    ? s.markets.map((m: any) => (typeof m === 'string' ? m : m?.code)).filter(Boolean)
    : [];
  return { admin: !!s?.admin, public_read: !!s?.public_read, markets };
}
