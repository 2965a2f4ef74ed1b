// Bundles the page into dist/ (served by plughost at /terminal/ when web_dir = "web/dist").
// Usage: node build.mjs [--watch]
//
// src/gen/api.ts is the typed RPC client generated from the plugins; `make web` writes it
// (plughost codegen --lang ts --out web/src/gen --plugins plugins) before calling this.
// A build type-checks src/ with tsc first (esbuild strips types without checking them).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
const watch = process.argv.includes('--watch');

if (!existsSync(path.join(here, 'src', 'gen', 'api.ts'))) {
  console.error('web/src/gen/api.ts is missing: run `make web` (it generates the client with plughost codegen)');
  process.exit(1);
}
if (!watch) {
  try {
    execFileSync(path.join(here, 'node_modules', '.bin', 'tsc'), ['--noEmit', '-p', here], { stdio: 'inherit' });
  } catch {
    console.error('type check failed (tsc --noEmit)');
    process.exit(1);
  }
}

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const options = {
  entryPoints: [path.join(here, 'src', 'main.ts')],
  outfile: path.join(dist, 'app.js'), // its CSS import becomes dist/app.css
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  logLevel: 'info',
};
await copyFile(path.join(here, 'src', 'index.html'), path.join(dist, 'index.html'));
if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
