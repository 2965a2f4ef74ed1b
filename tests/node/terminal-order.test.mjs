// Ordered input through the real stack: `terminal.input` calls carry `seq` (1, 2, 3... per
// session) and the host writes them in seq order, whatever order Centrifugo runs them in
// (it runs a connection's RPCs concurrently); a seq already received is refused (1007).
//
// Needs target/release/{plughost,terminal-agent} (issue 14's), .tools/bin/centrifugo and
// plugins/terminal.wasm.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { b64, followSession, rpcError, shuffle, startTerminalStack } from './terminal-stack.mjs';

describe('ordered terminal input', () => {
  let stack;
  let alice;

  before(async () => {
    stack = await startTerminalStack();
    alice = await stack.connect('alice');
  });
  after(async () => {
    await stack?.stop();
  });

  /**
   * A session whose shell has become `cat > FILE` with echo off (input seq 1); resolves
   * {id, reader, file, input(seq, text)}.
   */
  async function catSession(name) {
    const { data } = await alice.rpc('terminal.create', {});
    const id = data.session_id;
    const { reader } = await followSession(alice, id);
    const file = path.join(stack.dir, name);
    const input = (seq, text) => alice.rpc('terminal.input', { session_id: id, data: b64(text), seq });
    await input(1, `stty -echo; echo RE""ADY; exec cat > ${file}\n`);
    await reader.waitFor(/[\r\n]READY\r\n/);
    return { id, reader, file, input };
  }

  test('200 terminal.input calls sent at once, out of order, are written in seq order', async () => {
    const { reader, file, input } = await catSession('order.txt');
    // Seqs 2..201, each call its own line; sent all at once in an order shuffled within every
    // 32 (the most the page keeps in flight; Centrifugo starts 64 of a connection's calls at a
    // time, in the order they arrive, and runs them concurrently).
    const seqs = [];
    for (let block = 2; block <= 201; block += 32) {
      seqs.push(...shuffle(Array.from({ length: Math.min(32, 202 - block) }, (_, i) => block + i)));
    }
    assert.equal(seqs.length, 200);
    const line = (seq) => `line-${String(seq).padStart(3, '0')}\n`;
    const results = await Promise.all(seqs.map((seq) => input(seq, line(seq)).then(() => 'ok', (e) => e)));
    const failed = results.map((r, i) => [seqs[i], r]).filter(([, r]) => r !== 'ok');
    assert.deepEqual(failed, [], 'every input was accepted');

    // A seq already written (the first, one in the middle, the last) is refused.
    for (const seq of [5, 201, 1]) {
      const dup = await rpcError(input(seq, 'DUPLICATE\n'));
      assert.equal(dup.code, 1007, `seq ${seq}: ${JSON.stringify(dup)}`);
    }
    // A seq that is already waiting for its turn is refused too; the waiting one is written.
    const waiting = input(203, line(203));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await rpcError(input(203, 'DUPLICATE\n'));
    assert.equal(again.code, 1007, JSON.stringify(again));
    await input(202, line(202));
    await waiting;

    await input(204, '\x04'); // end of file: cat exits, and with it the session
    await reader.waitStatus('exited');
    const expected = Array.from({ length: 202 }, (_, i) => line(i + 2)).join('');
    const written = await readFile(file, 'utf8');
    assert.ok(!written.includes('DUPLICATE'), 'a refused input was written');
    assert.equal(written, expected);
  });

  test('inputs without seq are still written (unordered, as before)', async () => {
    const { data } = await alice.rpc('terminal.create', {});
    const { reader } = await followSession(alice, data.session_id);
    await alice.rpc('terminal.input', { session_id: data.session_id, data: b64('echo no-seq-ok\n') });
    await reader.waitFor(/[\r\n]no-seq-ok\r\n/);
    await alice.rpc('terminal.close', { session_id: data.session_id });
  });
});
