// Bundles the page into dist/ (served by plughost at /terminal/ when web_dir = "web/dist").
// Usage: node build.mjs [--watch]

import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const options = {
  entryPoints: [path.join(here, 'src', 'main.js')],
  outfile: path.join(dist, 'app.js'), // its CSS import becomes dist/app.css
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  logLevel: 'info',
};
await copyFile(path.join(here, 'src', 'index.html'), path.join(dist, 'index.html'));
if (process.argv.includes('--watch')) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
