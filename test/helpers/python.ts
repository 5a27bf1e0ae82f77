// Runs real client programs for tests: python3 scripts (smtplib, poplib, imaplib) with JSON output, and any command.
import { spawn } from 'node:child_process';

export function runPython<T = unknown>(script: string, args: string[] = [], timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python3 exited ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`python3 printed no JSON: ${out} ${err}`));
      }
    });
  });
}

/** Runs a command without blocking the event loop (the server under test lives in this process). */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/**
 * Moves the message with the lowest UID of folder `from` into `to` over IMAP as a mail client does (python3's
 * imaplib, UID MOVE), logged in as `user`; the MOVE's status ('OK' when moved).
 */
export async function imapMoveFirst(port: number, user: string, password: string, from: string, to: string): Promise<string> {
  const r = await runPython<{ moved: string }>(
    `
import imaplib, json, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
m.login(sys.argv[2], sys.argv[3])
m.select(sys.argv[4])
typ, data = m.uid('SEARCH', None, 'ALL')
typ, _ = m.uid('MOVE', data[0].split()[0].decode(), sys.argv[5])
m.logout()
print(json.dumps({'moved': typ}))
`,
    [String(port), user, password, from, to],
  );
  return r.moved;
}
