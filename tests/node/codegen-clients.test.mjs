// The generated Go and Python clients against the real stack: `plughost codegen --lang go`
// and `--lang python` for the stack's plugins folder, a Go program (centrifuge-go, modules
// from the Go module proxy) and a Python script (centrifuge-python, in the repo's ignored
// `.cache/venv`) that each connect through the real Centrifugo and call `echo`, `whoami`,
// `notifications.send` and `priority.echo` (an enum param) through the generated client,
// check typed errors (the plugin's own code, 103, and 102 once a plugin is removed) and run
// the version check against the live host. A missing `go` or `python3` fails, never skips.
//
// Run: cd tests/node && npm ci && node --test codegen-clients.test.mjs

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { REPO, requireBinaries, sleep, startStack } from './harness.mjs';

const execFileP = promisify(execFile);
const VENV = path.join(REPO, '.cache', 'venv');
const PYTHON = path.join(VENV, 'bin', 'python');

// `live`: every call the stack serves; `gone`: after priority.wasm left the plugins folder.
// Prints one JSON object: results, errors as {typed, code, message, temporary}, the version
// check's answer and the embedded APIVersion.
const GO_MAIN = `package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/centrifugal/centrifuge-go"

	api "plughostapi"
)

// rpcError describes a call's error: the generated client's *RPCError, or what else it was.
func rpcError(err error) map[string]any {
	var rpcErr *api.RPCError
	if errors.As(err, &rpcErr) {
		return map[string]any{"typed": true, "code": rpcErr.Code, "message": rpcErr.Message, "temporary": rpcErr.Temporary}
	}
	if err == nil {
		return map[string]any{"typed": false, "error": nil}
	}
	return map[string]any{"typed": false, "error": err.Error()}
}

func check(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\\n", what, err)
		os.Exit(1)
	}
}

func main() {
	client := centrifuge.NewJsonClient(os.Getenv("CLIENT_WS_URL"), centrifuge.Config{Token: os.Getenv("CLIENT_TOKEN"), Name: "go"})
	defer client.Close()
	connected := make(chan struct{}, 1)
	client.OnConnected(func(centrifuge.ConnectedEvent) {
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	check("connect", client.Connect())
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		check("connect", errors.New("not connected within 10s"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c := api.NewClient(client)
	out := map[string]any{"apiVersion": api.APIVersion}
	switch os.Args[1] {
	case "live":
		echo, err := c.Echo(ctx, api.EchoEchoParams{SessionID: "go-1", Data: "aGk="})
		check("echo", err)
		out["echo"] = echo
		who, err := c.Whoami(ctx)
		check("whoami", err)
		out["whoami"] = who
		sent, err := c.NotificationsSend(ctx, api.SendParams{UserID: "42", Title: "from go", Body: "typed"})
		check("notifications.send", err)
		out["send"] = sent
		prio, err := c.PriorityEcho(ctx, api.PriorityEchoParams{Text: "t", Priority: api.PriorityHigh})
		check("priority.echo", err)
		out["priority"] = prio
		out["pluginError"] = rpcError(c.WhoamiFail(ctx, api.FailParams{Code: 1234, Message: "from go"}))
		_, err = c.NotificationsSend(ctx, api.SendParams{UserID: "", Title: "t", Body: "b"})
		out["invalidParams"] = rpcError(err)
	case "gone":
		_, err := c.PriorityEcho(ctx, api.PriorityEchoParams{Text: "t", Priority: api.PriorityLow})
		out["notFound"] = rpcError(err)
	}
	version, err := c.CheckVersion(ctx)
	check("check version", err)
	out["version"] = version
	check("print", json.NewEncoder(os.Stdout).Encode(out))
}
`;

const PY_MAIN = `import asyncio
import json
import os
import sys

from centrifuge import Client

import api


def rpc_error(error):
    if isinstance(error, api.RpcError):
        return {"typed": True, "code": error.code, "message": error.message, "temporary": error.temporary}
    return {"typed": False, "error": None if error is None else repr(error)}


async def failure(call):
    try:
        await call
    except Exception as error:
        return rpc_error(error)
    return rpc_error(None)


async def main(phase):
    client = Client(os.environ["CLIENT_WS_URL"], token=os.environ["CLIENT_TOKEN"], name="python")
    await client.connect()
    try:
        await client.ready(timeout=10)
        c = api.ApiClient(client)
        out = {"apiVersion": api.API_VERSION}
        if phase == "live":
            out["echo"] = (await c.echo(api.EchoEchoParams(session_id="py-1", data="aGk="))).model_dump(mode="json")
            out["whoami"] = (await c.whoami()).model_dump(mode="json")
            sent = await c.notifications_send(api.SendParams(user_id="42", title="from python", body="typed"))
            out["send"] = sent.model_dump(mode="json")
            prio = await c.priority_echo(api.PriorityEchoParams(text="t", priority="high"))
            out["priority"] = prio.model_dump(mode="json")
            out["pluginError"] = await failure(c.whoami_fail(api.FailParams(code=1234, message="from python")))
            out["invalidParams"] = await failure(c.notifications_send(api.SendParams(user_id="", title="t", body="b")))
        else:
            out["notFound"] = await failure(c.priority_echo(api.PriorityEchoParams(text="t", priority="low")))
        out["version"] = (await c.check_version()).model_dump(mode="json")
        print(json.dumps(out))
    finally:
        await client.disconnect()


asyncio.run(main(sys.argv[1]))
`;

const NOTIFICATIONS_MANIFEST = 'grants = ["publish"]\nchannels = ["user#*", "notifications#broadcast"]\n';

/** Runs `file args` in `cwd`; throws with its output unless it exits 0; returns stdout. */
async function run(file, args, { cwd, env = {}, timeout = 300_000 } = {}) {
  try {
    const { stdout } = await execFileP(file, args, {
      cwd,
      env: { ...process.env, ...env },
      timeout,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    throw new Error(`${file} ${args.join(' ')} failed (${error.code ?? error.signal}):\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  }
}

/** The last line of `stdout`, parsed. */
function lastJson(stdout) {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

// Never download another Go toolchain; modules (centrifuge-go) come from the module proxy
// into the default module cache.
const GO_ENV = { GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod' };

/** `.cache/venv` with pydantic and centrifuge-python (as tests/e2e/codegen.rs makes it). */
async function pythonVenv() {
  if (!existsSync(PYTHON)) await run('python3', ['-m', 'venv', VENV]);
  try {
    await run(PYTHON, ['-c', 'import pydantic, centrifuge']);
  } catch {
    await run(PYTHON, ['-m', 'pip', 'install', '--quiet', 'pydantic>=2,<3', 'centrifuge-python']);
  }
  return PYTHON;
}

requireBinaries();

describe('generated Go and Python clients against the real stack', () => {
  let stack;
  let dir;
  let goBin;
  let python;
  let pyDir;
  let inbox;
  const users = { go: '7', python: '8' };

  /** Runs the Go program or the Python script for `phase` as its user; returns its JSON. */
  async function client(lang, phase) {
    const env = { CLIENT_WS_URL: stack.wsUrl, CLIENT_TOKEN: await stack.token(users[lang]) };
    if (lang === 'go') return lastJson(await run(goBin, [phase], { env, timeout: 60_000 }));
    return lastJson(await run(python, ['-W', 'error', 'check_live.py', phase], { cwd: pyDir, env, timeout: 60_000 }));
  }

  async function liveVersion() {
    const res = await fetch(`${stack.hostUrl}/openrpc.json`);
    return (await res.json()).info.version;
  }

  before(async () => {
    stack = await startStack({ echo: null, whoami: null, notifications: NOTIFICATIONS_MANIFEST, priority: null });
    dir = await mkdtemp(path.join(os.tmpdir(), 'plughost-clients-'));

    // The commands of the README's codegen section, for the folder the host serves.
    const goDir = path.join(dir, 'go');
    pyDir = path.join(dir, 'python');
    for (const [lang, out] of [['go', goDir], ['python', pyDir]]) {
      await stack.plughost(['codegen', '--lang', lang, '--out', out, '--plugins', stack.pluginsDir]);
    }

    await mkdir(path.join(goDir, 'cmd', 'check-live'), { recursive: true });
    await writeFile(path.join(goDir, 'cmd', 'check-live', 'main.go'), GO_MAIN);
    await run('go', ['mod', 'tidy'], { cwd: goDir, env: GO_ENV });
    await run('go', ['vet', './...'], { cwd: goDir, env: GO_ENV });
    goBin = path.join(dir, 'check-live');
    await run('go', ['build', '-o', goBin, './cmd/check-live'], { cwd: goDir, env: GO_ENV });

    python = await pythonVenv();
    await writeFile(path.join(pyDir, 'check_live.py'), PY_MAIN);

    // User 42 watches its channel for the clients' notifications.
    const watcher = await stack.connect('42');
    ({ inbox } = await stack.subscribe(watcher, 'user#42'));
  });

  after(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const results = {};

  for (const lang of ['go', 'python']) {
    test(`${lang}: echo, whoami, notifications.send and an enum param through the generated client`, async () => {
      const out = await client(lang, 'live');
      results[lang] = out;
      const session = lang === 'go' ? 'go-1' : 'py-1';
      assert.deepEqual(out.echo, { session_id: session, data: 'aGk=', echoed: true });
      assert.equal(out.whoami.user, users[lang]);
      assert.equal(out.whoami.transport, 'websocket');
      assert.deepEqual(out.send, { success: true, message: 'Notification sent' });
      assert.deepEqual(out.priority, { text: 't', priority: 'high', urgent: true });
      const publication = await inbox.next();
      assert.deepEqual(publication.data, { type: 'notification', title: `from ${lang}`, body: 'typed' });
    });

    test(`${lang}: error replies are the generated client's typed error (plugin code, 103)`, async () => {
      const out = results[lang] ?? (await client(lang, 'live'));
      assert.deepEqual(out.pluginError, { typed: true, code: 1234, message: `from ${lang}`, temporary: false });
      assert.equal(out.invalidParams.typed, true, JSON.stringify(out.invalidParams));
      assert.equal(out.invalidParams.code, 103);
      assert.match(out.invalidParams.message, /user_id/);
    });

    test(`${lang}: the version check against the live host is compatible`, async () => {
      const out = results[lang] ?? (await client(lang, 'live'));
      const live = await liveVersion();
      assert.match(out.apiVersion, /^[0-9a-f]{16}$/);
      assert.equal(out.apiVersion, live);
      assert.deepEqual(
        { compatible: out.version.compatible, server: out.version.server_version, client: out.version.client_version },
        { compatible: true, server: live, client: live },
      );
    });
  }

  test('once a plugin is removed: 102 as a typed error, and the version check says incompatible', async () => {
    const before = await liveVersion();
    await rm(path.join(stack.pluginsDir, 'priority.wasm'));
    const started = Date.now();
    while ((await liveVersion()) === before) {
      assert.ok(Date.now() - started < 30_000, 'the host did not unload priority.wasm within 30 s');
      await sleep(100);
    }
    const after = await liveVersion();
    for (const lang of ['go', 'python']) {
      const out = await client(lang, 'gone');
      assert.equal(out.notFound.typed, true, `${lang}: ${JSON.stringify(out.notFound)}`);
      assert.equal(out.notFound.code, 102, `${lang}: ${JSON.stringify(out.notFound)}`);
      assert.equal(out.apiVersion, before, lang);
      assert.equal(out.version.compatible, false, `${lang}: ${JSON.stringify(out.version)}`);
      assert.equal(out.version.server_version, after, lang);
      assert.equal(out.version.client_version, before, lang);
    }
    // The generated sources still say what they were generated for.
    assert.match(await readFile(path.join(pyDir, 'api.py'), 'utf8'), new RegExp(`API_VERSION = "${before}"`));
  });
});
