// A throwaway Redis from Debian's redis-server for the tests that need one (chat, multi-node),
// and a poll-until helper. A missing redis-server fails the run; it never skips a test.

import { execFileSync } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { Proc, freePort, sleep } from './harness.mjs';

/** The redis-server binary: REDIS_SERVER_BIN, /usr/bin/redis-server, or one on PATH. */
export function redisServerBin() {
  for (const file of [process.env.REDIS_SERVER_BIN, '/usr/bin/redis-server'].filter(Boolean)) {
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('redis-server not found (install the Debian package `redis-server`, or set REDIS_SERVER_BIN)');
  }
}

/** Whether a Redis on `port` answers PING. */
export function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * Starts redis-server (no persistence) in `dir` on `port` (default: a free one); resolves
 * {redis, port} once it answers PING, throws otherwise.
 */
export async function startRedis(dir, port) {
  port ??= await freePort();
  const redis = new Proc(
    'redis-server',
    redisServerBin(),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { cwd: dir, logFile: path.join(dir, 'redis.log') },
  );
  const started = Date.now();
  while (!(await redisPing(port))) {
    if (redis.exited) throw new Error(`redis-server exited during startup\n  ${redis.describe()}`);
    if (Date.now() - started > 10_000) {
      await redis.stop();
      throw new Error(`redis-server did not answer PING within 10 s\n  ${redis.describe()}`);
    }
    await sleep(50);
  }
  return { redis, port };
}

/** Polls `check` until it returns truthy; throws with `what` and the last value otherwise. */
export async function eventually(check, what, timeoutMs = 20_000) {
  const started = Date.now();
  let last;
  while (Date.now() - started < timeoutMs) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last?.message ?? JSON.stringify(last)})`);
}
