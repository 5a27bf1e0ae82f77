// The virus scanner spamgate uses: a message over max_size is skipped, the others wait for one of max_concurrent
// slots and are scanned by clamd (one connection each), all within one timeout; counted and timed. Never throws.
import { clamdScan } from './clamd-client.ts';
import type { ClamdAddress } from './clamd-protocol.ts';
import { startDeadline } from '../util/deadline.ts';
import { Limiter } from './limiter.ts';
import type { AntivirusMetrics } from './metrics.ts';

export interface ScannerSettings {
  address: ClamdAddress;
  /** Wait for a slot, connect, send and read the reply: all of it. */
  timeoutMs: number;
  /** Larger messages are not scanned. */
  maxSize: number;
  maxConcurrent: number;
}

export type ScanOutcome =
  | { result: 'clean' }
  | { result: 'virus'; name: string }
  | { result: 'error'; reason: string }
  | { result: 'skipped'; size: number; maxSize: number };

export class VirusScanner {
  private readonly limiter: Limiter;

  constructor(
    readonly settings: ScannerSettings,
    private readonly metrics: AntivirusMetrics,
  ) {
    this.limiter = new Limiter(settings.maxConcurrent);
  }

  /** No scan under way or waiting for a slot. */
  get idle(): boolean {
    return this.limiter.inUse === 0;
  }

  /** Scans one message; `signal` (the check's budget) may end it sooner than the timeout. */
  async scan(message: Buffer, signal?: AbortSignal): Promise<ScanOutcome> {
    if (message.length > this.settings.maxSize) {
      this.metrics.scans.inc({ result: 'skipped' });
      return { result: 'skipped', size: message.length, maxSize: this.settings.maxSize };
    }
    const started = performance.now();
    const deadline = startDeadline(this.settings.timeoutMs, signal);
    let outcome: ScanOutcome;
    try {
      outcome = await this.scanInSlot(message, deadline.signal);
    } finally {
      deadline.clear();
    }
    this.metrics.scans.inc({ result: outcome.result });
    this.metrics.seconds.observe((performance.now() - started) / 1000);
    return outcome;
  }

  private async scanInSlot(message: Buffer, deadline: AbortSignal): Promise<ScanOutcome> {
    const release = await this.limiter.acquire(deadline);
    if (!release) return { result: 'error', reason: `no scanner slot free within ${this.settings.timeoutMs} ms (antivirus.max_concurrent ${this.settings.maxConcurrent})` };
    try {
      const reply = await clamdScan(this.settings.address, message, deadline);
      if (reply.status === 'clean') return { result: 'clean' };
      if (reply.status === 'virus') return { result: 'virus', name: reply.name };
      return { result: 'error', reason: reply.message };
    } catch (err) {
      // clamdScan does not throw; should it ever, the message is still not taken for clean
      return { result: 'error', reason: err instanceof Error ? err.message : String(err) };
    } finally {
      release();
    }
  }
}
