// The generated TypeScript client: `plughost codegen --lang ts` for the stack's plugins,
// compiled with `tsc --strict`, then used with a real centrifuge-js connection through the
// real Centrifugo to the host (typed results, typed errors, and checkVersion).
//
// Run: cd tests/node && npm ci && node --test codegen.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { requireBinaries, startStack } from './harness.mjs';

const execFileP = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const TSC = path.join(HERE, 'node_modules', '.bin', 'tsc');

// Type-checks that a real centrifuge-js `Centrifuge` fits the client and that results and
// errors carry their declared types (compiled only, never run).
const USAGE_TS = `import { Centrifuge } from 'centrifuge';
import { API_VERSION, ApiClient, RpcError, type EchoReply } from './api.js';

export async function use(centrifuge: Centrifuge): Promise<EchoReply> {
  const api = new ApiClient(centrifuge);
  const version = await api.checkVersion();
  const compatible: boolean = version.compatible;
  if (!compatible) throw new Error(version.server_version + ' != ' + API_VERSION);
  try {
    await api.whoamiFail({ code: 1234, message: 'x' });
  } catch (error) {
    if (error instanceof RpcError) {
      const code: number = error.code;
      const temporary: boolean = error.temporary;
      void code;
      void temporary;
    }
  }
  return api.echo({ session_id: 's', data: 'd' });
}
`;

requireBinaries();

describe('generated TypeScript client against the real stack', () => {
  let stack;
  let dir;
  let generated; // the compiled api.js module
  let api;

  before(async () => {
    stack = await startStack({ echo: null, whoami: null });
    dir = await mkdtemp(path.join(os.tmpdir(), 'plughost-codegen-'));
    const src = path.join(dir, 'src');
    await stack.plughost(['codegen', '--lang', 'ts', '--out', src]);
    await writeFile(path.join(src, 'usage.ts'), USAGE_TS);
    // centrifuge-js (types for tsc, the module for node) from this folder's node_modules.
    await symlink(path.join(HERE, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'es2022',
          moduleResolution: 'bundler',
          rootDir: 'src',
          outDir: 'out',
          noUnusedLocals: true,
          noImplicitReturns: true,
          skipLibCheck: true,
          types: [],
        },
        include: ['src'],
      }),
    );
    try {
      await execFileP(TSC, ['-p', path.join(dir, 'tsconfig.json'), '--strict'], { cwd: dir, timeout: 120_000 });
    } catch (error) {
      throw new Error(`tsc --strict failed on the generated client:\n${error.stdout}\n${error.stderr}`);
    }
    generated = await import(pathToFileURL(path.join(dir, 'out', 'api.js')).href);
    api = new generated.ApiClient(await stack.connect('42'));
  });

  after(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('the client names methods after the RPC methods and embeds the API version', async () => {
    const source = await readFile(path.join(dir, 'src', 'api.ts'), 'utf8');
    assert.match(source, /async echo\(params: EchoParams\): Promise<EchoReply>/);
    assert.match(source, /async whoamiFail\(params: FailParams\): Promise<void>/);
    assert.match(generated.API_VERSION, /^[0-9a-f]{16}$/);
  });

  test('echo through the typed client', async () => {
    const reply = await api.echo({ session_id: 'abc-123', data: 'bHMgLWxhCg==' });
    assert.deepEqual(reply, { session_id: 'abc-123', data: 'bHMgLWxhCg==', echoed: true });
    const me = await api.whoami();
    assert.equal(me.user, '42');
  });

  test('an error reply is an RpcError with its code', async () => {
    await assert.rejects(api.whoamiFail({ code: 1234, message: 'nope' }), (error) => {
      assert.ok(error instanceof generated.RpcError, `not an RpcError: ${error}`);
      assert.ok(error instanceof Error);
      assert.equal(error.code, 1234);
      assert.equal(error.message, 'nope');
      assert.equal(typeof error.temporary, 'boolean');
      return true;
    });
    // Params the host refuses (missing `data`): code 103.
    await assert.rejects(api.echo({ session_id: 's' }), (error) => error instanceof generated.RpcError && error.code === 103);
  });

  test('checkVersion reports compatible with the server that generated it', async () => {
    const answer = await api.checkVersion();
    assert.equal(answer.compatible, true, JSON.stringify(answer));
    assert.equal(answer.server_version, generated.API_VERSION);
    assert.equal(answer.client_version, generated.API_VERSION);
    const res = await fetch(`${stack.hostUrl}/openrpc.json`);
    assert.equal((await res.json()).info.version, generated.API_VERSION);
  });
});
