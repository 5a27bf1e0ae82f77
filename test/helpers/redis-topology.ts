// Test helper: real multi-process Redis topologies on 127.0.0.1 — a 3-master Cluster (slots assigned
// with CLUSTER ADDSLOTSRANGE, nodes joined with CLUSTER MEET) and a Sentinel group (master, replica,
// sentinels). Ports come from freePort, every process and temp dir is cleaned up in t.after, every wait
// polls against a deadline.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_SERVER, type Cleanup } from '../unit/redis/redis-server.ts';
import { freePort } from './free-port.ts';

export interface RedisProcess {
  port: number;
  dir: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Sends a signal without waiting for an exit (SIGSTOP: a hung server that keeps its sockets open). */
  signal(signal: NodeJS.Signals): void;
}

/** Polls `cond` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${ms} ms${last instanceof Error ? ` (last error: ${last.message})` : ''}`);
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Spawns redis-server with `args(port)` in its own temp dir until `ready` shows in its log (5 s). */
async function launchOnce(args: string[], dir: string, ready: RegExp): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server ${args.join(' ')} not ready: ${out.slice(-500)}`));
    }, 5000);
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`));
    });
  });
  return { child, log: () => out };
}

/**
 * One redis-server (or sentinel) on a free port; `build` turns (port, dir) into its arguments and may write
 * files into dir. A port found free may be taken before the server binds it: a few attempts.
 */
export async function startRedisProcess(t: Cleanup, build: (port: number, dir: string) => Promise<string[]> | string[], ready = /Ready to accept connections/): Promise<RedisProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-topo-'));
  let running: ChildProcess | undefined;
  // One hook: the process is gone before its dir is removed.
  t.after(async () => {
    if (running) await stop(running, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      const args = await build(port, dir);
      const { child } = await launchOnce(args, dir, ready);
      running = child;
      return {
        port,
        dir,
        kill: (signal: NodeJS.Signals = 'SIGKILL') => stop(child, signal),
        signal: (signal) => void child.kill(signal),
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

const BASE = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** A plain admin connection (no retries) to one process; closed in t.after. */
export function adminClient(t: Cleanup, port: number, password?: string): Redis {
  const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: false, ...(password !== undefined ? { password } : {}) });
  client.on('error', () => undefined);
  t.after(() => client.disconnect());
  return client;
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export interface TestCluster {
  nodes: RedisProcess[];
  admins: Redis[];
  /** Port of the master serving `key` (asks the cluster: follows migrations). */
  portOf(key: string): Promise<number>;
  /** Moves the slot of `key` (and its keys) to the next node, as a resharding does; returns the new port. */
  moveSlotOf(key: string): Promise<number>;
}

/** `masters` cluster nodes (no replicas), slots split evenly, all agreeing on cluster_state:ok. */
export async function startCluster(t: Cleanup, masters = 3): Promise<TestCluster> {
  const nodes: RedisProcess[] = [];
  const busPorts: number[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(
      await startRedisProcess(t, async (port) => {
        // An explicit bus port: port+10000 (the default) may be above 65535 for an ephemeral port.
        const bus = await freePort();
        busPorts[i] = bus;
        return ['--port', String(port), '--cluster-port', String(bus), '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', ...BASE];
      }),
    );
  }
  const admins = nodes.map((n) => adminClient(t, n.port));
  const ranges: Array<[number, number]> = [];  // contiguous, even split
  const per = Math.ceil(16384 / masters);
  for (let i = 0; i < masters; i++) ranges.push([i * per, Math.min(16383, (i + 1) * per - 1)]);
  for (let i = 0; i < masters; i++) await admins[i]?.call('CLUSTER', 'ADDSLOTSRANGE', ranges[i]?.[0] ?? 0, ranges[i]?.[1] ?? 0);
  for (let i = 1; i < masters; i++) await admins[0]?.call('CLUSTER', 'MEET', '127.0.0.1', nodes[i]?.port ?? 0, busPorts[i] ?? 0);
  await waitFor(
    'cluster_state:ok on every node',
    async () => {
      for (const admin of admins) {
        const info = String(await admin.call('CLUSTER', 'INFO'));
        if (infoField(info, 'cluster_state') !== 'ok' || infoField(info, 'cluster_known_nodes') !== String(masters)) return false;
      }
      return true;
    },
    15_000,
  );
  const ids = await Promise.all(admins.map(async (a) => String(await a.call('CLUSTER', 'MYID'))));
  const ownerOf = async (slot: number, admin = admins[0]): Promise<number> => {
    const slots = (await admin?.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, string]]>;
    const hit = slots.find(([a, b]) => slot >= a && slot <= b);
    return ids.indexOf(hit?.[2][2] ?? '');
  };
  const slotOf = async (key: string): Promise<number> => Number(await admins[0]?.call('CLUSTER', 'KEYSLOT', key));
  return {
    nodes,
    admins,
    portOf: async (key) => nodes[await ownerOf(await slotOf(key))]?.port ?? -1,
    moveSlotOf: async (key) => {
      const slot = await slotOf(key);
      const from = await ownerOf(slot);
      const to = (from + 1) % masters;
      const [src, dst] = [admins[from], admins[to]];
      if (!src || !dst) throw new Error(`no node owns slot ${slot}`);
      await dst.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[from] ?? '');
      await src.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[to] ?? '');
      const keys = (await src.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)) as string[];
      if (keys.length) await src.call('MIGRATE', '127.0.0.1', nodes[to]?.port ?? 0, '', 0, 5000, 'KEYS', ...keys);
      for (const a of admins) await a.call('CLUSTER', 'SETSLOT', slot, 'NODE', ids[to] ?? '');
      // every node must name the new owner before clients are sent there (a node still gossiping the old view
      // sends a client back and forth until it gives up on redirections)
      await waitFor(
        `slot ${slot} owned by node ${to} in every node's view`,
        async () => {
          for (const a of admins) if ((await ownerOf(slot, a)) !== to) return false;
          return true;
        },
        10_000,
      );
      return nodes[to]?.port ?? -1;
    },
  };
}

export interface TestSentinel {
  master: RedisProcess;
  replica: RedisProcess;
  sentinels: RedisProcess[];
  name: string;
  /** The master address the first live sentinel reports. */
  masterPort(): Promise<number>;
}

/**
 * A master, one replica (in sync before the sentinels start, so they see it on their first INFO) and
 * `count` sentinels with down-after 1 s and a short failover timeout; returns once every sentinel knows
 * the replica and the other sentinels (so a failover can be authorized at once).
 */
export async function startSentinelGroup(t: Cleanup, count = 3, name = 'mymaster', opts: { sentinelPassword?: string } = {}): Promise<TestSentinel> {
  const master = await startRedisProcess(t, (port) => ['--port', String(port), ...BASE]);
  // DEBUG SLEEP on the replica lets a test hold its replication back (see the sentinel test).
  const replica = await startRedisProcess(t, (port) => ['--port', String(port), '--replicaof', '127.0.0.1', String(master.port), '--enable-debug-command', 'local', ...BASE]);
  const replicaAdmin = adminClient(t, replica.port);
  await waitFor('replica in sync', async () => infoField(String(await replicaAdmin.info('replication')), 'master_link_status') === 'up');
  const quorum = Math.floor(count / 2) + 1;
  const sentinels: RedisProcess[] = [];
  for (let i = 0; i < count; i++) {
    sentinels.push(
      await startRedisProcess(
        t,
        async (port, dir) => {
          const file = path.join(dir, 'sentinel.conf');
          const conf = [
            `port ${port}`,
            'bind 127.0.0.1',
            `dir ${dir}`,
            `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
            `sentinel down-after-milliseconds ${name} 1000`,
            `sentinel failover-timeout ${name} 4000`,
            `sentinel parallel-syncs ${name} 1`,
            // sentinels that require a password (and use it with each other)
            ...(opts.sentinelPassword !== undefined ? [`requirepass ${opts.sentinelPassword}`, `sentinel sentinel-pass ${opts.sentinelPassword}`] : []),
          ];
          await writeFile(file, conf.join('\n') + '\n');
          return [file, '--sentinel'];
        },
        /\+monitor master/,
      ),
    );
  }
  const sentinelAdmins = sentinels.map((s) => adminClient(t, s.port, opts.sentinelPassword));
  await waitFor(
    'sentinels know the replica and each other',
    async () => {
      for (const admin of sentinelAdmins) {
        const replicas = (await admin.call('SENTINEL', 'REPLICAS', name)) as unknown[];
        const peers = (await admin.call('SENTINEL', 'SENTINELS', name)) as unknown[];
        if (replicas.length < 1 || peers.length < count - 1) return false;
      }
      return true;
    },
    15_000,
  );
  return {
    master,
    replica,
    sentinels,
    name,
    masterPort: async () => {
      for (const admin of sentinelAdmins) {
        try {
          const addr = (await admin.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string] | null;
          if (addr) return Number(addr[1]);
        } catch {
          // next sentinel
        }
      }
      return -1;
    },
  };
}
