// Keystroke-to-echo latency of the browser terminal: headless Chromium types into the page
// (xterm.js), the keystroke goes out as a terminal.input RPC through Centrifugo to the
// plugin and the agent's PTY, the echo comes back as a publication and is written to
// xterm. Measured in the page, from the keydown event to the echo being handed to xterm.
//
// Run: cd tests/node && node bench-terminal-latency.mjs [KEYSTROKES]   (a script, not a test)

import { launchBrowser, openTerminal, requireBrowser, WEB_DIST } from './terminal-browser.mjs';
import { startTerminalStack } from './terminal-stack.mjs';

const keystrokes = Number(process.argv[2] ?? 300);

requireBrowser();
const stack = await startTerminalStack({ web: WEB_DIST });
const browser = await launchBrowser();
try {
  const { page } = await openTerminal(browser.context, stack.hostUrl, 'bench');
  await page.click('#terminal');
  // `cat` reads lines; the PTY echoes each key as it is typed (no prompt redraws in the way).
  await page.keyboard.type('cat > /dev/null');
  await page.keyboard.press('Enter');
  await page.waitForTimeout(500);
  await page.evaluate(() => {
    const lat = { samples: [], t0: 0 };
    window.__latency = lat;
    document.addEventListener('keydown', (event) => (lat.t0 = event.key.length === 1 ? performance.now() : 0), true);
    window.plughostTerminal.onOutput = () => {
      if (lat.t0) {
        lat.samples.push(performance.now() - lat.t0);
        lat.t0 = 0;
      }
    };
  });
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; i < keystrokes; i++) {
    await page.keyboard.press(letters[i % letters.length]);
    await page.waitForFunction((n) => window.__latency.samples.length > n, i, { timeout: 5000, polling: 1 });
    if (i % 60 === 59) {
      await page.keyboard.press('Enter'); // keep the line short (not measured)
      await page.waitForTimeout(50);
    }
  }
  const samples = await page.evaluate(() => window.__latency.samples);
  samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))];
  console.log(`keystroke -> echo in the browser (${samples.length} keystrokes, headless Chromium)`);
  console.log(`  p50 ${q(0.5).toFixed(1)} ms   p90 ${q(0.9).toFixed(1)} ms   p99 ${q(0.99).toFixed(1)} ms   max ${samples.at(-1).toFixed(1)} ms   min ${samples[0].toFixed(1)} ms`);
} finally {
  await browser.close();
  await stack.stop();
}
process.exit(0);
