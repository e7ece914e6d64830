// The dashboard's build: esbuild bundles src/main.ts (with Chart.js) and its
// CSS into assets/<name>-<hash>.{js,css}, minified, then index.html is
// written with those names. Output folder: $TROVE_WEB_OUT (the CMake build
// sets it per build directory), else dist/. Nothing depends on the clock or
// the machine: the same sources and lockfile give the same bytes.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.env.TROVE_WEB_OUT ?? path.join(here, 'dist'));

await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });
const result = await build({
  absWorkingDir: here,
  entryPoints: ['src/main.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: path.join(out, 'assets'),
  splitting: true,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

let js = null;
let css = null;
let preload = [];
for (const [file, info] of Object.entries(result.metafile.outputs)) {
  if (info.entryPoint === 'src/main.ts') {
    js = path.basename(file);
    if (info.cssBundle) css = path.basename(info.cssBundle);
    /* the chunks main imports statically: fetched at once, not after main */
    preload = info.imports.filter((i) => i.kind === 'import-statement')
      .map((i) => path.basename(i.path)).sort();
  }
}
if (!js) throw new Error('build: no JavaScript output for src/main.ts');
const html = (await readFile(path.join(here, 'index.html'), 'utf8'))
  .replace('<!--assets-->',
    (css ? `<link rel="stylesheet" href="/assets/${css}">\n` : '') +
    preload.map((p) => `<link rel="modulepreload" href="/assets/${p}">\n`).join('') +
    `<script type="module" src="/assets/${js}"></script>`);
await writeFile(path.join(out, 'index.html'), html);
