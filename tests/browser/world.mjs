// A store with data for the browser tests and the page-load benchmark,
// made with the trove CLI: the simulated world of worlds/demo.yaml (or
// another world file), `cycles` rounds of train -> cycle run -> simulate in
// each market, so that there are model versions to roll back and A/B results
// to chart. Also starts and stops a real `trove serve` on 127.0.0.1.
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';

export function trove(bin, args, opts = {}) {
  return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/* Build the store at dir/store.db; returns its path. */
export function makeStore({ bin, root, dir, world, cycles = 3, markets = ['DE', 'CH'] }) {
  dir = path.resolve(dir);   /* the store records the model files' paths */
  const store = path.join(dir, 'store.db');
  const worldFile = world ?? path.join(root, 'worlds', 'demo.yaml');
  const marketsDir = path.join(root, 'markets');
  const models = path.join(dir, 'models');
  trove(bin, ['simulate', '--world', worldFile, '--store', store]);
  for (let c = 1; c <= cycles; c++) {
    const now = trove(bin, ['simulate', '--world', worldFile, '--store', store, '--clock']).trim();
    for (const m of markets) {
      trove(bin, ['train', '--store', store, '--market', m, '--markets-dir', marketsDir,
        '--models-dir', models, '--threads', '1']);
      trove(bin, ['cycle', 'run', '--store', store, '--market', m, '--cycle', `c${c}`,
        '--now', now, '--markets-dir', marketsDir]);
    }
    trove(bin, ['simulate', '--world', worldFile, '--store', store, '--cycles', '1']);
  }
  return store;
}

/* Start `trove serve` on a free port; resolves to { url, stop() }. */
export function startServer({ bin, root, store, token, extra = [] }) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', '--store', store, '--config', path.join(root, 'markets'),
      '--port', '0', ...extra], {
      env: { ...process.env, TROVE_ADMIN_TOKEN: token },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`trove serve did not start in 120 s: ${err}`));
    }, 120000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/[^\s]+?)\/?\s/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          log: () => err,
          stop: () => new Promise((done) => {
            if (child.exitCode !== null) return done(child.exitCode);
            child.once('exit', (code, sig) => done(code ?? sig));
            child.kill('SIGTERM');
          }),
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`trove serve exited (${code}): ${err}`));
    });
  });
}

/* playwright-core from web/node_modules (installed by the build's npm ci). */
export async function chromium(root) {
  const { createRequire } = await import('node:module');
  const req = createRequire(path.join(root, 'web', 'package.json'));
  return req('playwright-core').chromium;
}

export const CHROMIUM = process.env.TROVE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
  '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
