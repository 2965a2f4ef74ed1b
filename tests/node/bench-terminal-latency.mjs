// Keystroke-to-echo latency of the browser terminal: headless Chromium types into the page
// (xterm.js), the keystroke goes out as a terminal.input RPC through Centrifugo to the
// plugin and the agent's PTY, the echo comes back as a publication and is written to
// xterm. Measured in the page, from the keydown event to the echo being handed to xterm.
// Also counts what went wrong: keystrokes whose echo never came (lost), echoes out of
// order, and failed input RPCs; exits 1 with a FAIL summary line if any.
//
// Works against older builds too (PLUGHOST_BIN, TERMINAL_AGENT_BIN, PLUGHOST_PLUGIN_DIRS, and
// PLUGHOST_WEB_DIST for that build's page).
//
// Run: cd tests/node && node bench-terminal-latency.mjs [KEYSTROKES]   (a script, not a test)

import { launchBrowser, openTerminal, requireBrowser, WEB_DIST } from './terminal-browser.mjs';
import { startTerminalStack } from './terminal-stack.mjs';

const keystrokes = Number(process.argv[2] ?? 300);
const ECHO_TIMEOUT_MS = 5000;

requireBrowser();
const stack = await startTerminalStack({ web: WEB_DIST });
const browser = await launchBrowser();
let failed = false;
try {
  const { page, problems } = await openTerminal(browser.context, stack.hostUrl, 'bench');
  await page.click('#terminal');
  // `cat` reads lines; the PTY echoes each key as it is typed (no prompt redraws in the way).
  await page.keyboard.type('cat > /dev/null');
  await page.keyboard.press('Enter');
  await page.waitForTimeout(500);
  await page.evaluate(() => {
    const lat = { samples: [], t0: 0, echo: '' };
    window.__latency = lat;
    document.addEventListener('keydown', (event) => (lat.t0 = event.key.length === 1 ? performance.now() : 0), true);
    window.plughostTerminal.onOutput = (bytes) => {
      lat.echo += String.fromCharCode(...bytes);
      if (lat.t0) {
        lat.samples.push(performance.now() - lat.t0);
        lat.t0 = 0;
      }
    };
  });
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let typed = '';
  let noEcho = 0;
  for (let i = 0; i < keystrokes; i++) {
    const key = letters[i % letters.length];
    const before = await page.evaluate(() => window.__latency.samples.length);
    await page.keyboard.press(key);
    typed += key;
    try {
      await page.waitForFunction((n) => window.__latency.samples.length > n, before, { timeout: ECHO_TIMEOUT_MS, polling: 1 });
    } catch {
      noEcho++; // counted, and the run goes on
    }
    if (i % 60 === 59) {
      await page.keyboard.press('Enter'); // keep the line short (not measured)
      await page.waitForTimeout(50);
    }
  }
  await page.waitForTimeout(500); // late echoes
  const result = await page.evaluate(() => {
    const h = window.plughostTerminal;
    // Older pages have no failure counter: count their "input not sent" notices instead.
    let notices = 0;
    const buffer = h.term.buffer.active;
    for (let i = 0; i < buffer.length; i++) if (buffer.getLine(i)?.translateToString(true).includes('[input not sent')) notices++;
    return {
      samples: window.__latency.samples,
      echo: window.__latency.echo,
      inputFailures: typeof h.inputFailures === 'number' ? h.inputFailures : notices,
      gaps: typeof h.gaps === 'number' ? h.gaps : null,
    };
  });
  const echoed = result.echo.replace(/[^a-z]/g, '');
  const lost = Math.max(0, typed.length - echoed.length);
  const inOrder = echoed === typed;
  const samples = result.samples.sort((a, b) => a - b);
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? NaN;
  console.log(`keystroke -> echo in the browser (${samples.length} keystrokes, headless Chromium)`);
  console.log(`  p50 ${q(0.5).toFixed(1)} ms   p90 ${q(0.9).toFixed(1)} ms   p99 ${q(0.99).toFixed(1)} ms   max ${(samples.at(-1) ?? NaN).toFixed(1)} ms   min ${(samples[0] ?? NaN).toFixed(1)} ms`);
  console.log(`  echoed       ${echoed.length} of ${typed.length} keystrokes (${lost} lost, ${noEcho} without an echo within ${ECHO_TIMEOUT_MS} ms), ${inOrder ? 'in order' : 'NOT in the order typed'}`);
  console.log(`  failed RPCs  ${result.inputFailures}`);
  console.log(`  loss notices ${result.gaps ?? 'n/a (older page)'}`);
  const wrong = [];
  if (lost) wrong.push(`${lost} keystrokes lost`);
  if (!inOrder) wrong.push('echo out of order');
  if (noEcho) wrong.push(`${noEcho} echoes late or missing`);
  if (result.inputFailures) wrong.push(`${result.inputFailures} failed RPCs`);
  if (result.gaps) wrong.push(`${result.gaps} loss notices`);
  if (problems.length) wrong.push(`page errors: ${problems.join('; ')}`);
  if (wrong.length) {
    failed = true;
    console.log(`FAIL: ${wrong.join(', ')} (p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms)`);
  } else {
    console.log(`OK: ${typed.length} of ${typed.length} keystrokes echoed in order, 0 failed RPCs (p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms)`);
  }
} finally {
  await browser.close();
  await stack.stop();
}
process.exit(failed ? 1 : 0);
