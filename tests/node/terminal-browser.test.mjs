// The browser terminal in headless Chromium: the page served by plughost (/terminal/),
// a demo token, xterm.js, centrifuge-js over the real Centrifugo, the terminal plugin and a
// real PTY. Saves a screenshot to tests/artifacts/terminal.png.
//
// Needs /usr/bin/chromium (make system-deps) and the built page (make web).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { REPO } from './harness.mjs';
import { launchBrowser, openTerminal, requireBrowser, waitForLine, WEB_DIST } from './terminal-browser.mjs';
import { startTerminalStack } from './terminal-stack.mjs';

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
});
