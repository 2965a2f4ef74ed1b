// Headless Chromium (Debian's package) driven by playwright-core, for the browser terminal
// test and the latency benchmark.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { REPO } from './harness.mjs';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
/** The built page (`make web`); PLUGHOST_WEB_DIST serves another build (e.g. an older checkout's, for benchmarks). */
export const WEB_DIST = process.env.PLUGHOST_WEB_DIST || path.join(REPO, 'web', 'dist');

/** Throws (with what to do) unless Chromium and the built page are there. */
export function requireBrowser() {
  const missing = [];
  if (!existsSync(CHROMIUM_BIN)) missing.push(`Chromium not found at ${CHROMIUM_BIN} (apt-get install -y chromium, or make system-deps)`);
  if (!existsSync(path.join(WEB_DIST, 'index.html')) || !existsSync(path.join(WEB_DIST, 'app.js'))) {
    missing.push(`the page is not built in ${WEB_DIST} (make web)`);
  }
  if (missing.length) throw new Error(`browser tests cannot run:\n  ${missing.join('\n  ')}`);
}

/** A fresh headless Chromium with an empty profile; `close()` also removes the profile. */
export async function launchBrowser() {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'plughost-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_BIN,
    headless: true,
    viewport: { width: 1000, height: 640 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const close = async () => {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/**
 * Opens the terminal page as `user` and waits until the session is live. With `{newPage:
 * true}` it opens a tab of its own; with `{record: true}` that tab keeps every byte the page
 * writes to xterm from the first one on (`window.__rx`, see recordedOutput).
 */
export async function openTerminal(context, hostUrl, user, { newPage = false, record = false } = {}) {
  const page = newPage || record ? await context.newPage() : (context.pages()[0] ?? (await context.newPage()));
  if (record) {
    await page.addInitScript(() => {
      const rx = { chunks: [], bytes: 0, tail: '' };
      window.__rx = rx;
      // The page takes its onOutput from here (hooks set before it runs).
      window.plughostTerminal = {
        onOutput: (bytes) => {
          rx.chunks.push(bytes.slice());
          rx.bytes += bytes.length;
          rx.tail = (rx.tail + String.fromCharCode(...bytes.subarray(-64))).slice(-64);
        },
      };
    });
  }
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  await page.goto(`${hostUrl}/terminal/?user=${encodeURIComponent(user)}`);
  try {
    await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 20_000 });
  } catch (error) {
    const state = await page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById('conn')?.textContent}`);
    throw new Error(`the page did not get ready (${state}); ${problems.join('; ')}`);
  }
  return { page, problems };
}

/** Whether a line of the terminal's buffer is exactly `text` (trailing blanks ignored). */
export function bufferHasLine(page, text) {
  return page.evaluate((wanted) => {
    const buffer = window.plughostTerminal.term.buffer.active;
    for (let i = 0; i < buffer.length; i++) {
      if (buffer.getLine(i)?.translateToString(true).trim() === wanted) return true;
    }
    return false;
  }, text);
}

/** Waits until a line of the terminal is exactly `text`. */
export async function waitForLine(page, text, timeout = 10_000) {
  await page.waitForFunction(
    (wanted) => {
      const buffer = window.plughostTerminal.term.buffer.active;
      for (let i = 0; i < buffer.length; i++) {
        if (buffer.getLine(i)?.translateToString(true).trim() === wanted) return true;
      }
      return false;
    },
    text,
    { timeout },
  );
}

/** Every byte a recording tab (openTerminal's `record`) wrote to xterm so far, as a Buffer. */
export async function recordedOutput(page) {
  const base64 = await page.evaluate(() => {
    const all = new Uint8Array(window.__rx.bytes);
    let at = 0;
    for (const chunk of window.__rx.chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    let binary = '';
    for (let i = 0; i < all.length; i += 0x8000) binary += String.fromCharCode(...all.subarray(i, i + 0x8000));
    return btoa(binary);
  });
  return Buffer.from(base64, 'base64');
}

/** FNV-1a 32 of `bytes`, as the page computes `plughostTerminal.checksum`. */
export function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}
