// Rules and messages for the quarantine tests: a quarantine threshold, a per-domain override and a Subject rule.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** The DNS checks, off so that only the test's rules score (test senders' domains do not resolve). */
export const DNS_CHECKS = ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];

/** quarantine at 10 (other.example: 1000), and a Subject rule worth 12: past quarantine, short of reject (15). */
export function quarantineRules(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, 'zz-quarantine.yaml'),
    `actions:
  quarantine: 10
overrides:
  other.example: { quarantine: 1000 }
content_rules:
  - { symbol: CT_TEST_QUARANTINE, description: test marker for quarantine, weight: 12, type: header, header: Subject, regex: 'QUARANTINE-ME' }
`,
  );
  return dir;
}

export const msg = (subject: string, to = 'user@relay.example'): string =>
  `From: a@remote.example\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@remote.example>\r\n\r\nbody of ${subject}\r\n`;

