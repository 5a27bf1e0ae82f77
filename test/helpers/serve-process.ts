// `spamgate serve` as a real child process for tests that kill it or run it where the test process cannot be
// (a mount namespace of its own): started, waited for until its HTTP listener is up, its output kept, killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export class ServeProcess {
  child: ChildProcess | undefined;
  private out = '';

  /** Starts `command args` and waits until spamgate says its HTTP listener is up (at most 60 s; it fails if it exits). */
  async start(command: string, args: readonly string[]): Promise<void> {
    this.out = '';
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.out += d.toString()));
    // Generous: a start takes about 2 s, but CI runs two heavy test files at once on two cores.
    const began = Date.now();
    const deadline = began + 60_000;
    while (!/http\s+listening/.test(this.out)) {
      const ended = child.exitCode !== null || child.signalCode !== null;
      if (ended || Date.now() > deadline) {
        const how = ended ? `it exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})` : 'no HTTP listener yet';
        throw new Error(`spamgate did not start: ${how} after ${Date.now() - began} ms; its output: ${this.out}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Everything it wrote to stdout and stderr since its start. */
  get output(): string {
    return this.out;
  }

  /** SIGKILL (no shutdown of its own), and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
}
