// Test helper: a real redis-server on a free 127.0.0.1 port with a temp dir, no persistence; can be
// SIGKILLed and restarted on the same port, or paused (SIGSTOP) and resumed. Cleanup is registered on
// the test context.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { redisSection } from '../../../src/config/sections/redis.ts';
import { createRegistry, type Registry } from '../../../src/metrics/registry.ts';
import { RedisLink } from '../../../src/redis/connection.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { freePort } from '../../helpers/free-port.ts';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** Where cleanup is registered: a node:test context, or a benchmark's own list. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

export interface TestRedis {
  port: number;
  url: string;
  /** SIGKILL: the server vanishes without a goodbye. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP: the server hangs, its sockets stay open (the kernel still accepts and buffers). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}


function launch(port: number, dir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start on ${port}: ${out.slice(-500)}`));
    }, 5000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`));
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export async function startRedis(t: Cleanup): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-redis-'));
  let lastError: unknown;
  // A port found free may be taken before redis binds it: try a few.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      let child = await launch(port, dir);
      t.after(async () => {
        child.kill('SIGCONT'); // a paused server would not act on SIGTERM
        await stop(child, 'SIGTERM');
        await rm(dir, { recursive: true, force: true });
      });
      return {
        port,
        url: `redis://127.0.0.1:${port}`,
        kill: () => stop(child, 'SIGKILL'),
        restart: async () => {
          await stop(child, 'SIGKILL');
          child = await launch(port, dir);
        },
        pause: () => void child.kill('SIGSTOP'),
        resume: () => void child.kill('SIGCONT'),
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/** A RedisLink to the test server with test-friendly timeouts; closed in t.after. */
export async function linkTo(t: Cleanup, redis: TestRedis, over: Record<string, unknown> = {}, registry: Registry = createRegistry(false)): Promise<RedisLink> {
  const config = redisSection.parse({ port: redis.port, timeout: '2s', connect_timeout: '2s', reconnect_max: '200ms', key_prefix: 'test:', ...over });
  const link = new RedisLink({ config, log: silentLogger, registry });
  t.after(() => link.close());
  if (!(await link.waitReady(3000))) throw new Error('test redis not ready');
  return link;
}

/** Polls a condition every 25 ms, at most `ms` (an event to await is not offered by ioredis' reconnects). */
export async function eventually(cond: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const tries = Math.ceil(ms / 25);
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`condition not met within ${ms} ms`);
}
