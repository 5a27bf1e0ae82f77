// A private Postfix instance for tests: its own config directory, queue and data directories under a temp dir,
// smtpd on one loopback port, no chroot, mail for the test domains sent on to a given SMTP server, and
// smtpd_milters pointing at a given milter. It never touches the system instance (nor port 25).
//
//   const pf = await startPostfix(t, { smtpPort, milterPort, domains: ['example.test'], relayPort: sink.port });
//   pf.log()   // its maillog so far (for assertion messages)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const POSTFIX = '/usr/sbin/postfix';

export const postfixMissing = (): string | false => (existsSync(POSTFIX) ? false : `${POSTFIX} is not installed (apt-get install postfix)`);

export interface PostfixOptions {
  smtpPort: number;
  milterPort: number;
  domains: string[];
  /** Where mail for the domains goes (an SMTP server on 127.0.0.1). */
  relayPort: number;
  /** milter_default_action: what Postfix does when the milter is unreachable (tempfail by default). */
  defaultAction?: string;
  /** milter_protocol: the milter protocol version Postfix speaks (6 by default). */
  milterProtocol?: number;
  /** More main.cf lines ("name = value"), after the others. */
  mainCf?: string[];
}

export interface RunningPostfix {
  dir: string;
  log(): Promise<string>;
}

/** Debian's master.cf services, each out of the chroot (its queue is not under /var/spool/postfix). */
const MASTER = `
SMTPD      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

export async function startPostfix(t: TestContext, o: PostfixOptions): Promise<RunningPostfix> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-postfix-'));
  // the postfix user goes through it to its queue
  await chmod(dir, 0o755);
  const conf = path.join(dir, 'conf');
  await mkdir(conf);
  await mkdir(path.join(dir, 'queue'), { mode: 0o755 });
  const transports = o.domains.map((d) => `${d}=smtp:[127.0.0.1]:${o.relayPort}`).join(' ');
  const main = [
    'compatibility_level = 3.6',
    `queue_directory = ${path.join(dir, 'queue')}`,
    `data_directory = ${path.join(dir, 'data')}`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    `maillog_file = ${path.join(dir, 'maillog')}`,
    `maillog_file_prefixes = ${dir}`,
    'syslog_name = postfix-spamgate-test',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'myhostname = mta.example.test',
    'mydestination =',
    'mynetworks = 127.0.0.0/8',
    `relay_domains = ${o.domains.join(' ')}`,
    `transport_maps = inline:{ ${transports} }`,
    'alias_maps =',
    'alias_database =',
    'smtpd_tls_security_level = none',
    'smtp_tls_security_level = none',
    'smtp_dns_support_level = disabled',
    'disable_dns_lookups = yes',
    'smtpd_peername_lookup = no',
    'biff = no',
    'smtpd_banner = $myhostname ESMTP',
    `smtpd_milters = inet:127.0.0.1:${o.milterPort}`,
    `milter_default_action = ${o.defaultAction ?? 'tempfail'}`,
    `milter_protocol = ${o.milterProtocol ?? 6}`,
    // a message for a test lingers neither in the queue nor in the retry schedule
    'maximal_queue_lifetime = 1h',
    'queue_run_delay = 1s',
    'minimal_backoff_time = 1s',
    'maximal_backoff_time = 2s',
    ...(o.mainCf ?? []),
    '',
  ].join('\n');
  await writeFile(path.join(conf, 'main.cf'), main);
  await writeFile(path.join(conf, 'master.cf'), MASTER.replace('SMTPD', `127.0.0.1:${o.smtpPort}`));
  await writeFile(path.join(dir, 'maillog'), '');
  await chmod(path.join(dir, 'maillog'), 0o644);
  const postfix = (...args: string[]) => run(POSTFIX, ['-c', conf, ...args], { timeout: 30_000 });
  t.after(async () => {
    await postfix('stop').catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });
  // creates the queue directories with their owners (postfix, postdrop) and modes
  await postfix('set-permissions');
  await postfix('start');
  await waitForPort(o.smtpPort);
  return { dir, log: () => readFile(path.join(dir, 'maillog'), 'utf8').catch(() => '') };
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`postfix smtpd did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
