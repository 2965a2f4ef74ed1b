// The browser terminal in headless Chromium: the page served by plughost (/terminal/),
// a demo token, xterm.js, centrifuge-js over the real Centrifugo, the terminal plugin and a
// real PTY. Saves a screenshot to tests/artifacts/terminal.png.
//
// Needs /usr/bin/chromium (make system-deps) and the built page (make web).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { REPO, sleep } from './harness.mjs';
import {
  fnv1a32,
  launchBrowser,
  openTerminal,
  recordedOutput,
  requireBrowser,
  waitForLine,
  WEB_DIST,
} from './terminal-browser.mjs';
import { checkSeqOutput, startTerminalStack } from './terminal-stack.mjs';

const SCREENSHOT = path.join(REPO, 'tests', 'artifacts', 'terminal.png');

describe('the browser terminal', () => {
  let stack;
  let browser;

  before(async () => {
    requireBrowser();
    stack = await startTerminalStack({ web: WEB_DIST });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('the host serves the page, its config, and demo tokens', async () => {
    const page = await fetch(`${stack.hostUrl}/terminal/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /plughost terminal/);
    const config = await (await fetch(`${stack.hostUrl}/terminal/config.json`)).json();
    assert.equal(config.websocket_url, `ws://127.0.0.1:${stack.centrifugoPort}/connection/websocket`);
    const token = await fetch(`${stack.hostUrl}/terminal/token?user=alice`);
    assert.equal(token.status, 200);
    assert.equal((await token.json()).user, 'alice');
    assert.equal((await fetch(`${stack.hostUrl}/terminal/token?user=${encodeURIComponent('a b')}`)).status, 400);
  });

  test('typing a command shows its output; output missed while reconnecting is recovered', async () => {
    const { page, problems } = await openTerminal(browser.context, stack.hostUrl, 'alice');
    const subscribed = await page.evaluate(() => window.plughostTerminal.subscribed);
    assert.equal(subscribed.recoverable, true, 'the output subscription uses recovery');

    // The page (its generated client) asked once whether the host serves the API it was
    // generated for, and shows a warning exactly when not, without blocking the session.
    // (This stack loads only the terminal plugin; the page was generated from all of plugins/.)
    await page.waitForFunction(() => window.plughostTerminal.version !== undefined);
    const version = await page.evaluate(() => ({
      ...window.plughostTerminal.version,
      warning: document.getElementById('version').hidden ? null : document.getElementById('version').textContent,
    }));
    assert.equal(version.error, undefined, 'system.check_version answered');
    assert.match(version.client_version, /^[0-9a-f]{16}$/);
    assert.equal(version.warning !== null, !version.compatible, `warning shown iff outdated: ${JSON.stringify(version)}`);

    await page.click('#terminal');
    await page.keyboard.type('echo browser-ok');
    await page.keyboard.press('Enter');
    await waitForLine(page, 'browser-ok');
    // Rendered, not only in xterm's buffer: the DOM renderer's rows show it.
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.xterm-rows > div')].some((row) => row.textContent.trim() === 'browser-ok'),
    );

    // Output produced while the connection is down arrives after the reconnect.
    await page.keyboard.type('sleep 2; echo after-reconnect');
    await page.keyboard.press('Enter');
    // Disconnect once the shell has the command (its Enter echoed: the cursor left the line).
    await page.waitForFunction(() => {
      const buffer = window.plughostTerminal.term.buffer.active;
      const cursor = buffer.baseY + buffer.cursorY;
      for (let i = 0; i < cursor; i++) {
        if (buffer.getLine(i)?.translateToString(true).endsWith('sleep 2; echo after-reconnect')) return true;
      }
      return false;
    });
    await stack.api('disconnect', { user: 'alice', disconnect: { code: 4000, reason: 'test reconnect' } });
    await waitForLine(page, 'after-reconnect', 15_000);
    const resubscribed = await page.evaluate(() => window.plughostTerminal.subscribed);
    assert.deepEqual(resubscribed, { recoverable: true, wasRecovering: true, recovered: true });

    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    assert.deepEqual(problems, [], 'the page logged no errors');
  });

  test('seq 1 300000 run in the page reaches xterm complete, in order and once (offsets, checksum)', async () => {
    const LINES = 300_000;
    const { page, problems } = await openTerminal(browser.context, stack.hostUrl, 'carol', { record: true });
    await page.click('#terminal');
    await page.keyboard.type(`seq 1 ${LINES}; echo __DO""NE__`);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.__rx.tail.includes('\n__DONE__\r'), null, { timeout: 150_000, polling: 100 });
    const bytes = await recordedOutput(page);
    assert.equal(checkSeqOutput(bytes, LINES), null);
    const hooks = await page.evaluate(() => {
      const h = window.plughostTerminal;
      return { bytesWritten: h.bytesWritten, checksum: h.checksum, nextOffset: h.nextOffset, gaps: h.gaps, lostBytes: h.lostBytes, inputFailures: h.inputFailures };
    });
    // What xterm got is the session's output from offset 0, each byte once: as many bytes
    // as the offsets cover, with the checksum of exactly the recorded bytes.
    assert.equal(hooks.bytesWritten, bytes.length);
    assert.equal(hooks.nextOffset, bytes.length, 'written bytes = the offsets covered from 0');
    assert.equal(hooks.checksum, fnv1a32(bytes), 'the page\'s running checksum');
    assert.equal(hooks.gaps, 0, 'no loss notice');
    assert.equal(hooks.lostBytes, 0);
    assert.equal(hooks.inputFailures, 0);
    assert.equal(await page.evaluate(() => document.getElementById('loss').hidden), true, 'no loss shown');
    assert.deepEqual(problems, [], 'the page logged no errors');
    await page.close();
  });

  test('a long string typed fast reaches the program in order', async (t) => {
    const { page, problems } = await openTerminal(browser.context, stack.hostUrl, 'dave', { newPage: true });
    const file = path.join(stack.dir, 'typed.txt');
    await page.click('#terminal');
    await page.keyboard.type(`stty -echo; echo RE""ADY; exec cat > ${file}`);
    await page.keyboard.press('Enter');
    await waitForLine(page, 'READY');
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const typed = Array.from({ length: 600 }, (_, i) => alphabet[(i * 7 + Math.floor(i / 62)) % alphabet.length]).join('');
    await page.keyboard.type(typed, { delay: 0 });
    await page.keyboard.press('Enter');
    await page.keyboard.press('Control+D');
    let written = '';
    for (let i = 0; i < 100 && written !== `${typed}\n`; i++) {
      await sleep(100);
      written = await readFile(file, 'utf8').catch(() => '');
    }
    assert.equal(written, `${typed}\n`, 'the keystrokes arrived complete and in order');
    const hooks = await page.evaluate(() => ({ sent: window.plughostTerminal.inputsSent, failed: window.plughostTerminal.inputFailures }));
    assert.equal(hooks.failed, 0, `${hooks.failed} of ${hooks.sent} inputs failed`);
    t.diagnostic(`${typed.length + 2} keystrokes in ${hooks.sent} terminal.input calls`);
    assert.deepEqual(problems, [], 'the page logged no errors');
    await page.close();
  });
});
