// Test helper: a front-of spamgate with its milter listening on 127.0.0.1 (port 0), the DNS checks off (test
// domains do not resolve), Bayes off, and content rules that turn a body marker into each verdict:
// REJECT-MARKER (reject), TAG-MARKER (subject rewrite), HOLD-MARKER (quarantine), DEFER-MARKER (tempfail).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { startGateway, type RunningGateway } from './gateway.ts';

export const DNS_CHECKS = ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];

/** A rules directory with the marker rules (removed after the test); more rules files may be written into it. */
export function milterTestRules(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-milter-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, 'zz-test.yaml'),
    `content_rules:
  - { symbol: CT_TEST_REJECT, description: test marker for reject, weight: 20, type: body, regex: 'REJECT-MARKER' }
  - { symbol: CT_TEST_TAG, description: test marker for subject rewrite, weight: 5.2, type: body, regex: 'TAG-MARKER' }
  - { symbol: CT_TEST_HOLD, description: test marker for quarantine, weight: quarantine, type: body, regex: 'HOLD-MARKER' }
  - { symbol: CT_TEST_DEFER, description: test marker for tempfail, weight: tempfail, type: body, regex: 'DEFER-MARKER' }
`,
  );
  return dir;
}

/**
 * The front-of base the milter and scan-protocol (spamd, rspamd HTTP) tests share: the upstream unused (port 9),
 * example.test local, Bayes and the DNS checks off, no trusted network; `rulesDir` read after the shipped rules.
 */
export function scanTestConfig(rulesDir?: string): Record<string, unknown> {
  return {
    mode: 'front-of',
    delivery: { upstream: { host: '127.0.0.1', port: 9 } },
    local_domains: ['example.test'],
    ...(rulesDir === undefined ? {} : { rules_dirs: [SHIPPED_RULES_DIR, rulesDir] }),
    bayes: { enabled: false },
    smtp: { trusted_networks: [] },
    checks: { disabled: DNS_CHECKS },
  };
}

/** The gateway with its milter; `extra` replaces top-level config keys (rules_dirs, checks, milter, …). */
export async function startMilterGateway(t: TestContext, extra: Record<string, unknown> = {}): Promise<RunningGateway & { milterPort: number }> {
  const gw = await startGateway(t, {
    ...scanTestConfig(milterTestRules(t)),
    milter: { enabled: true, listen: '127.0.0.1:0' },
    ...extra,
  });
  const unix = String((extra.milter as { listen?: string } | undefined)?.listen ?? '').startsWith('unix:');
  if (!unix) assert.ok(gw.milterPort, 'the milter listens');
  return gw as RunningGateway & { milterPort: number };
}
