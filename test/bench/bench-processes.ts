// Shared plumbing of the benchmarks that run real processes: spawning TypeScript scripts, waiting for
// their output, free ports, the load generator's result, and a process's CPU time and peak RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../helpers/free-port.ts';
export { freePort };

export const RELAY_DIR = path.join(import.meta.dirname, 'relay');
export const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');

/** What test/bench/relay/load.ts prints. */
export interface LoadResult {
  sent: number;
  failed: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

export function spawnTsx(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env });
}

/** Waits until the child's stdout (from now on) matches, bounded by timeoutMs and by the child's exit. */
export function waitOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 120_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`no ${pattern} within ${timeoutMs} ms: ${text.slice(-300)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) done(undefined, m);
    };
    const onExit = (): void => done(new Error(`process exited before ${pattern}: ${text.slice(-300)}`));
    function done(err?: Error, m?: RegExpExecArray): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (m) resolve(m);
      else reject(err);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Runs the load generator process (one message per connection) and returns its figures. */
export async function runLoad(port: number, count: number, concurrency: number, rcpt = 'user@relay.example'): Promise<LoadResult> {
  const child = spawnTsx(path.join(RELAY_DIR, 'load.ts'), [String(port), String(count), String(concurrency), '4096', rcpt]);
  const m = await waitOutput(child, /^(\{.*\})\n/m, 600_000);
  return JSON.parse(m[1] ?? '{}') as LoadResult;
}


/** CPU seconds (user+system) and peak RSS of a process, from /proc. */
export function usage(pid: number): { cpu: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpu: ticks / 100, peakRssMb: hwm / 1024 };
}
