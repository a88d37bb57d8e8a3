// Bundles the console into api/static/console: app-<hash>.js and app-<hash>.css (served as
// immutable) and index.html (served with no-cache) that names them. Prints the gzipped size.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, '..', 'api', 'static', 'console');
const BUDGET_GZIP_BYTES = 150 * 1024;

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const result = await build({
  entryPoints: { app: join(here, 'src', 'main.js') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  entryNames: '[name]-[hash]',
  outdir,
  metafile: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((n) => n.endsWith('.js'));
const css = outputs.find((n) => n.endsWith('.css'));
const template = readFileSync(join(here, 'src', 'index.html'), 'utf8');
writeFileSync(
  join(outdir, 'index.html'),
  template.replace('%CSS%', `/console/${css}`).replace('%JS%', `/console/${js}`),
);
const gz = gzipSync(readFileSync(join(outdir, js))).length;
console.log(`console: ${js} ${(gz / 1024).toFixed(1)} kB gzipped, ${css}`);
if (gz > BUDGET_GZIP_BYTES) {
  console.error(`console: ${js} is over the ${BUDGET_GZIP_BYTES / 1024} kB gzipped budget`);
  process.exit(1);
}
