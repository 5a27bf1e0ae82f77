// Test harness for IMAP integration tests: temp Maildir store, in-test users, a recording Learner, server on 127.0.0.1:0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Learner, LearnSource, MessageClass } from '../../src/bayes/learner.ts';
import { createRegistry, type Registry } from '../../src/metrics/registry.ts';
import { createImapServer, type ImapServer, type ImapServerOptions } from '../../src/imap/server.ts';
import { createMaildirStore, type MaildirStore } from '../../src/store/maildir-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

export const USERS: Record<string, string> = { 'alice@example.org': 'wonderland', 'bob@example.org': 'builder' };

export class RecordingLearner implements Learner {
  readonly calls: { cls: MessageClass; source: LearnSource; subject: string }[] = [];
  async learn(raw: Buffer, cls: MessageClass, source: LearnSource): Promise<'learned'> {
    this.calls.push({ cls, source, subject: /^Subject: (.*)$/im.exec(raw.toString('utf8'))?.[1]?.trim() ?? '' });
    return 'learned';
  }
  async forget(): Promise<'forgotten'> {
    return 'forgotten';
  }
}

export interface Harness {
  root: string;
  store: MaildirStore;
  server: ImapServer;
  port: number;
  learner: RecordingLearner;
  registry: Registry;
}

export async function startImap(t: { after(fn: () => Promise<void>): void }, extra: Partial<ImapServerOptions> = {}, storeOpts: { maxMailboxes?: number } = {}): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'sg-imap-'));
  const store = createMaildirStore({ root, fsync: false, ...storeOpts });
  const learner = new RecordingLearner();
  const registry = createRegistry(false);
  const server = createImapServer({
    store,
    authenticate: async (user, pass) => {
      const u = user.toLowerCase();
      return USERS[u] !== undefined && USERS[u] === pass ? u : undefined;
    },
    learner,
    hostname: 'imap.test',
    registry,
    log: silentLogger,
    clock: systemClock,
    ...extra,
  });
  const addr = await server.listen(0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    // background work (new/ → cur/ moves, index writes) must end before the tree goes, or rm races a writer
    await store.settle();
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  });
  return { root, store, server, port: addr.port, learner, registry };
}

/** Runs a program with a time limit; resolves with its output (never rejects, so tests can assert on it). */
export function run(cmd: string, args: string[], input?: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs a python3 imaplib script given the server's port as argv[1]; it must exit 0 having printed "ok". */
export async function expectPythonOk(port: number, script: string): Promise<void> {
  const res = await run('python3', ['-', String(port)], script);
  assert.equal(res.code, 0, res.stderr + res.stdout);
  assert.equal(res.stdout.trim(), 'ok');
}

export const sample = (subject: string, body = 'Hello there.'): string =>
  `From: Sender <sender@example.net>\r\nTo: alice@example.org\r\nSubject: ${subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.net>\r\n\r\n${body}\r\n`;

/**
 * An mbsync set-up for alice's INBOX against the harness: a local Maildir under the harness root and an rc file
 * whose channel `sync` runs with `channel` (default: both ways, creating and expunging on both sides) and the
 * account lines `account` adds (e.g. a PipelineDepth).
 */
export async function mbsyncSetup(h: Harness, opts: { account?: string[]; channel?: string[] } = {}): Promise<{ rc: string; local: string }> {
  const local = join(h.root, 'local');
  await mkdir(local, { recursive: true });
  const rc = join(h.root, 'mbsyncrc');
  const channel = opts.channel ?? ['Create Both', 'Sync All', 'Expunge Both'];
  await writeFile(
    rc,
    [
      'IMAPAccount sg', 'Host 127.0.0.1', `Port ${h.port}`, 'User alice@example.org', 'Pass wonderland', 'SSLType None', 'AuthMechs LOGIN', ...(opts.account ?? []), '',
      'IMAPStore remote', 'Account sg', '', 'MaildirStore local', `Path ${local}/`, `Inbox ${local}/INBOX`, 'SubFolders Verbatim', '',
      'Channel sync', 'Far :remote:', 'Near :local:', 'Patterns INBOX', ...channel, 'SyncState *', '',
    ].join('\n'),
  );
  return { rc, local };
}
