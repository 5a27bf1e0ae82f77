// Tests: a full-stack gateway for the Sieve suites: local domain corp.example with the user alice (password
// alice-password), a remote MX (the sink) for redirects and notices, a test rule worth 7 (junk) on "JUNK-MARKER"
// and one worth 5 (rewrite_subject) on "MID-MARKER", the DNS checks off; and `spamgate users …` run on its config file.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Clock } from '../../src/util/clock.ts';
import { startGateway, type RunningGateway } from './gateway.ts';
import { startSink, type SinkServer } from './sink-server.ts';
import { tempDir } from './temp-dir.ts';
import { usersCliFor, type UsersCli } from './users-cli.ts';

export const ALICE = 'alice@corp.example';
const ZONES = { 'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }], 'mx.remote.example': [{ A: '127.0.0.1' }] };
const DNS_CHECKS = ['fcrdns', 'helo', 'spf', 'spf_helo', 'sender_domain', 'dnsbl', 'rhsbl_helo', 'rhsbl_from', 'dkim_dmarc'];

export interface SieveMailhost {
  gw: RunningGateway;
  sink: SinkServer;
  dir: string;
  configFile: string;
  users: UsersCli;
}

/** `config` is merged over the gateway's; `valueFlags` are the users CLI options that take a value; `rules` a further rules file's YAML. */
/** `clock`: the gateway's time source (a test moves it to let a period pass). */
export async function startSieveMailhost(t: TestContext, prefix: string, config: Record<string, unknown> = {}, valueFlags?: readonly string[], rules?: string, clock?: Clock): Promise<SieveMailhost> {
  const dir = tempDir(t, prefix);
  const sink = await startSink();
  t.after(() => sink.close());
  const rulesDir = path.join(dir, 'rules');
  mkdirSync(rulesDir);
  writeFileSync(
    path.join(rulesDir, 'zz-test.yaml'),
    `content_rules:\n  - { symbol: CT_TEST_JUNK, description: test marker for junk, weight: 7, type: body, regex: 'JUNK-MARKER' }\n  - { symbol: CT_TEST_MID, description: test marker below junk, weight: 5, type: body, regex: 'MID-MARKER' }\n`,
  );
  if (rules !== undefined) writeFileSync(path.join(rulesDir, 'zz-test-extra.yaml'), rules);
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(
    t,
    {
      local_domains: ['localhost', 'corp.example'],
      outbound: { port: sink.port },
      mailhost: { watch_files: false },
      rules_dirs: [SHIPPED_RULES_DIR, rulesDir],
      bayes: { enabled: false },
      smtp: { trusted_networks: [] },
      checks: { disabled: DNS_CHECKS },
      ...config,
    },
    { zones: ZONES, configFile, ...(clock ? { clock } : {}) },
  );
  const users = usersCliFor(gw, configFile, valueFlags);
  assert.equal((await users(['add', ALICE, '--password-stdin'], 'alice-password\n')).code, 0);
  return { gw, sink, dir, configFile, users };
}
