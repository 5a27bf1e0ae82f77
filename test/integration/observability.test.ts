// Observability end to end (the HTTP endpoints themselves: observability-http.test.ts). A real
// Prometheus on loopback scrapes a running gateway every second (negotiating OpenMetrics) while SMTP
// (accepted, refused, relayed by MX to a sink, bounced, delivered locally), AUTH, POP3, IMAP, a failed
// and a good reload and DNS lookups flow; then promtool checks the exposition, the alert rules and the
// example config, and every PromQL expression of the Grafana dashboard and of the alert rules is
// evaluated through Prometheus's HTTP API (/api/v1/query). promtool also runs the alert rules' unit tests
// (grafana/prometheus/alerts-test.yml).
//
// How expressions are judged (tools in test/helpers/promql-tools.ts):
//   - each expression, as written (Grafana variables substituted: $__rate_interval → 1m,
//     $__range → 5m, $instance → .*), must parse and evaluate (status "success");
//   - each must return at least one series once its component has seen traffic. Alert expressions are
//     conditions ("… > 0.5"), false on healthy traffic, so they are evaluated with every comparison
//     against a number literal removed ("a > 0.5 and b > 100" → "a and b"): what is left is the
//     quantity the alert watches and must exist;
//   - every spamgate_* metric name they use (less _bucket/_sum/_count) must be in /metrics.
// Prometheus runs from its own temp dir, listens on a loopback port and scrapes every second; every
// wait (readiness, first scrape, data) is bounded polling.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Zones } from '../helpers/dns-server.ts';
import { freePort } from '../helpers/free-port.ts';
import { startGateway, TEST_PASSWORD, type RunningGateway } from '../helpers/gateway.ts';
import { runPython, run } from '../helpers/python.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage, SmtpWire } from '../helpers/smtp-wire.ts';
import { startRedis } from '../unit/redis/redis-server.ts';
import { alertExpressions, dashboardExpressions, datasourceProblems, metricNames, substituteGrafanaVariables, withoutComparisons } from '../helpers/promql-tools.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DASHBOARD = path.join(ROOT, 'grafana/dashboards/spamgate.json');
const ALERTS = path.join(ROOT, 'grafana/prometheus/alerts.yml');

const CLEAN = '192.0.2.10';
const LISTED = '192.0.2.20';
const BROKEN_ANSWER = '192.0.2.30';

const ZONES: Zones = {
  '10.2.0.192.in-addr.arpa': [{ PTR: 'mail.sender.example' }],
  'mail.sender.example': [{ A: CLEAN }, { TXT: `v=spf1 ip4:${CLEAN} -all` }],
  'pass.example': [{ TXT: `v=spf1 ip4:${CLEAN} -all` }],
  '_dmarc.pass.example': [{ TXT: 'v=DMARC1; p=none' }],
  'remote.example': [{ MX: [10, 'mx.remote.example'] }],
  'mx.remote.example': [{ A: '127.0.0.1' }],
  // RFC 5782 §5 test points: the list is up.
  '2.0.0.127.dnsbl.test': [{ A: '127.0.0.2' }],
  '20.2.0.192.dnsbl.test': [{ A: '127.0.0.2' }],
  // An undocumented answer ("query refused" style): a list error.
  '30.2.0.192.dnsbl.test': [{ A: '127.255.255.254' }],
};

const LIST_RULES = `dnsbl:
  testbl:
    zone: dnsbl.test
    kind: ip
    ipv4: true
    codes:
      127.0.0.2: DNSBL_TEST_LISTED
symbols:
  DNSBL_TEST_LISTED:
    weight: reject
    reply: "554 5.7.1 Client address listed in dnsbl.test"
    description: test list, listed
`;

const MSG = (from: string, subject: string): string =>
  `From: <${from}>\r\nTo: <postmaster@localhost>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nHello, this is a test message about ${subject}.\r\n`;

// ---------------------------------------------------------------- Prometheus on loopback

interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

interface Prometheus {
  query(expr: string): Promise<QueryResult>;
  labelValues(label: string, match: string): Promise<string[]>;
  rules(): Promise<Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>>;
  targets(): Promise<Array<{ health: string; lastError: string; scrapeUrl: string }>>;
}

/** Polls `check` every 250 ms until it holds; rejects after `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}


/** A real Prometheus: own temp dir and TSDB, loopback listener, scraping `target` every second. */
async function startPrometheus(t: TestContext, opts: { target: string; ruleFiles: string[] }): Promise<Prometheus> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-prom-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(
    config,
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
      `rule_files: [${opts.ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
      'scrape_configs:',
      `  - { job_name: spamgate, static_configs: [{ targets: [${JSON.stringify(opts.target)}] }] }`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const args = [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  const child = spawn('prometheus', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  t.after(async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const base = `http://127.0.0.1:${port}`;
  await waitFor('Prometheus /-/ready', 30_000, async () => (await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok).catch((err: Error) => {
    throw new Error(`${err.message}; prometheus said: ${stderr}`);
  });
  const get = async <T>(p: string): Promise<T> => (await (await fetch(base + p, { signal: AbortSignal.timeout(5000) })).json()) as T;
  return {
    query: (expr) => get<QueryResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    labelValues: async (label, match) => (await get<{ data: string[] }>(`/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`)).data,
    targets: async () => (await get<{ data: { activeTargets: Array<{ health: string; lastError: string; scrapeUrl: string }> } }>('/api/v1/targets')).data.activeTargets,
    rules: async () => (await get<{ data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> } }>('/api/v1/rules')).data.groups,
  };
}

// ---------------------------------------------------------------- traffic

async function fetchText(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** One SMTP session handed to `addr` by XCLIENT; returns the reply codes of MAIL, RCPT and DATA. */
async function xclientSession(t: TestContext, port: number, addr: string, from: string, rcpt: string): Promise<number[]> {
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test');
  const handed = await wire.command(`XCLIENT ADDR=${addr} NAME=${addr === CLEAN ? 'mail.sender.example' : '[UNAVAILABLE]'}`);
  assert.equal(handed.code, 220, handed.lines.join('|'));
  await wire.command(`EHLO ${addr === CLEAN ? 'mail.sender.example' : 'unknown.example'}`);
  const codes: number[] = [];
  const mail = await wire.command(`MAIL FROM:<${from}>`);
  codes.push(mail.code);
  if (mail.code === 250) {
    const r = await wire.command(`RCPT TO:<${rcpt}>`);
    codes.push(r.code);
    if (r.code === 250 && (await wire.command('DATA')).code === 354) {
      wire.write(MSG(from, `xclient ${addr}`));
      codes.push((await wire.command('.', 10_000)).code);
    }
  }
  await wire.command('QUIT').catch(() => undefined);
  return codes;
}

const MAILBOX_CLIENTS = `
import imaplib, json, poplib, smtplib, sys
pop3, imap, sub, password = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = {}
p = poplib.POP3('127.0.0.1', pop3, timeout=10); p.user('postmaster@localhost'); p.pass_(password); out['pop3'] = p.stat()[0]; p.quit()
p = poplib.POP3('127.0.0.1', pop3, timeout=10); p.user('postmaster@localhost')
try:
    p.pass_('wrong'); out['pop3_bad'] = 'accepted'
except poplib.error_proto:
    out['pop3_bad'] = 'refused'
p.quit()
m = imaplib.IMAP4('127.0.0.1', imap, timeout=10); m.login('postmaster@localhost', password)
out['append'] = m.append('Junk', None, None, b'From: <spammer@bad.example>\\r\\nSubject: cheap pills\\r\\n\\r\\nbuy now\\r\\n')[0]
m.logout()
m = imaplib.IMAP4('127.0.0.1', imap, timeout=10)
try:
    m.login('postmaster@localhost', 'wrong'); out['imap_bad'] = 'accepted'
except imaplib.IMAP4.error:
    out['imap_bad'] = 'refused'
m.logout()
s = smtplib.SMTP('127.0.0.1', sub, timeout=10); s.ehlo('client.test'); out['auth'] = s.login('postmaster@localhost', password)[0]; s.quit()
print(json.dumps(out))
`;

interface Rig {
  gw: RunningGateway;
  prom: Prometheus;
  metricsUrl: string;
  rulesDir: string;
}

async function startRig(t: TestContext): Promise<Rig> {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'refused@remote.example', code: 550, text: 'no such user' });
  const rulesDir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-obs-rules-'));
  t.after(() => rm(rulesDir, { recursive: true, force: true }));
  await writeFile(path.join(rulesDir, 'zz-test-list.yaml'), LIST_RULES);
  // A DKIM key for example.org, so the signing series (and their alert) have data: the trusted local delivery is signed.
  const dkimKey = path.join(rulesDir, 'dkim.pem');
  await writeFile(dkimKey, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  // Rate limits in a real Redis, so the Redis panels and alerts have series to evaluate.
  const redis = await startRedis(t);
  const gw = await startGateway(
    t,
    {
      rules_dirs: [SHIPPED_RULES_DIR, rulesDir],
      smtp: { xclient_from: ['127.0.0.1/32'] },
      // a route to the sink (as a relay host) besides MX delivery, so the relay series have data
      outbound: { port: sink.port, starttls: 'never', connect_timeout: '2s', command_timeout: '5s', routes: { 'routed.example': { host: '127.0.0.1', port: sink.port, tls: 'none' } } },
      queue: { fsync: false, scan_interval: '200ms' },
      checks: { timeout: '2s' },
      redis: { port: redis.port, use_for: ['rate'] },
      dkim: { sign: [{ domain: 'example.org', selector: 'obs', key: dkimKey }] },
      log_level: 'warn',
    },
    { zones: ZONES },
  );
  assert.ok(gw.httpPort && gw.pop3Port && gw.imapPort && gw.submissionPort, 'every listener is up');
  const prom = await startPrometheus(t, { target: `127.0.0.1:${gw.httpPort}`, ruleFiles: [ALERTS] });
  // Traffic starts once Prometheus has scraped the gateway, so counters are seen from their first value.
  await waitFor('first scrape', 30_000, async () => ((await prom.query('up{job="spamgate"} == 1')).data?.result.length ?? 0) > 0);
  return { gw, prom, rulesDir, metricsUrl: `http://127.0.0.1:${gw.httpPort}/metrics` };
}

async function sendTraffic(t: TestContext, gw: RunningGateway, rulesDir: string): Promise<void> {
  // Local delivery from a trusted client.
  const local = await sendMessage(gw.smtpPort, 'someone@example.org', ['postmaster@localhost'], MSG('someone@example.org', 'local delivery'));
  assert.equal(local.data?.code, 250, JSON.stringify(local.replies));
  // Relay by MX to the sink: one recipient accepted, one refused (→ failed attempt and a bounce).
  const relayed = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['user@remote.example', 'refused@remote.example'], MSG('postmaster@localhost', 'relayed'));
  assert.equal(relayed.data?.code, 250, JSON.stringify(relayed.replies));
  // Through the route (the relay path): delivered to the sink as the relay host.
  const routed = await sendMessage(gw.smtpPort, 'postmaster@localhost', ['user@routed.example'], MSG('postmaster@localhost', 'routed'));
  assert.equal(routed.data?.code, 250, JSON.stringify(routed.replies));
  // Untrusted clients (XCLIENT): clean and accepted (SPF, DKIM, DMARC, Bayes run), relay denied, DNSBL listed, DNSBL error.
  assert.deepEqual(await xclientSession(t, gw.smtpPort, CLEAN, 'alice@pass.example', 'postmaster@localhost'), [250, 250, 250]);
  assert.deepEqual(await xclientSession(t, gw.smtpPort, CLEAN, 'alice@pass.example', 'bob@elsewhere.example'), [250, 554]);
  assert.deepEqual(await xclientSession(t, gw.smtpPort, LISTED, 'carol@listed.example', 'postmaster@localhost'), [554]);
  const broken = await xclientSession(t, gw.smtpPort, BROKEN_ANSWER, 'dave@other.example', 'postmaster@localhost');
  assert.equal(broken[0], 250, 'an undocumented DNSBL answer is a list error, not a listing');
  // POP3, IMAP (APPEND into Junk teaches spam) and submission AUTH, good and bad.
  const clients = await runPython<Record<string, unknown>>(MAILBOX_CLIENTS, [String(gw.pop3Port), String(gw.imapPort), String(gw.submissionPort), TEST_PASSWORD], 60_000);
  assert.equal(clients.pop3_bad, 'refused');
  assert.equal(clients.imap_bad, 'refused');
  assert.equal(clients.append, 'OK');
  assert.equal(clients.auth, 235);
  // A reload that fails (broken rules file, the running snapshot stays) and one that succeeds.
  const broken_rules = path.join(rulesDir, 'zz-broken.yaml');
  await writeFile(broken_rules, 'symbols: [this is not a map\n');
  assert.equal(gw.app.reload().ok, false);
  await unlink(broken_rules);
  assert.equal(gw.app.reload().ok, true);
}

test('observability: /metrics, promtool and Prometheus evaluating the dashboard and alert rules', async (t) => {
  const rig = await startRig(t);
  const { gw, prom, metricsUrl, rulesDir } = rig;
  await sendTraffic(t, gw, rulesDir);

  let queueLines = '';
  await waitFor('delivery to the sink, the bounce and local delivery', 30_000, async () => {
    const text = (await fetchText(metricsUrl)).body;
    queueLines = text.split('\n').filter((l) => /^spamgate_(delivery|bounces|queue_depth|local_deliveries)/.test(l)).join('\n');
    return /spamgate_delivery_attempts_total\{result="failed",destination="remote"\} 1/.test(text) && /spamgate_bounces_total\{kind="failure"\} 1/.test(text) && /spamgate_queue_depth 0\b/.test(text);
  }).catch((err: Error) => assert.fail(`${err.message}\n${queueLines}\n${JSON.stringify(gw.logs.filter((l) => l.level !== 'info').slice(-10))}`));
  const metrics = await fetchText(metricsUrl);
  if (process.env.SPAMGATE_METRICS_DUMP) await writeFile(process.env.SPAMGATE_METRICS_DUMP, metrics.body);

  await t.test('/metrics: text exposition with HELP on every family, spamgate_ names only, process metrics', () => {
    assert.equal(metrics.status, 200);
    assert.match(metrics.type, /^text\/plain; version=0\.0\.4/);
    const families = [...metrics.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1] as string);
    const helps = new Set([...metrics.body.matchAll(/^# HELP (\S+) \S/gm)].map((m) => m[1]));
    assert.ok(families.length > 50, `families: ${families.length}`);
    for (const f of families) {
      assert.match(f, /^spamgate_[a-z0-9_]+$/, `${f}: spamgate_ prefix, snake_case`);
      assert.ok(helps.has(f), `${f} has HELP text`);
    }
    for (const f of ['spamgate_process_cpu_seconds_total', 'spamgate_process_resident_memory_bytes', 'spamgate_nodejs_eventloop_lag_seconds']) assert.ok(families.includes(f), f);
    const expected = [
      /spamgate_smtp_connections_total\{listener="smtp",result="accepted"\} [1-9]/,
      /spamgate_smtp_transactions_total\{listener="smtp",action="[a-z_]+"\} [1-9]/,
      /spamgate_smtp_rejects_total\{phase="rcpt",family="RELAY",symbol="RELAY_DENIED"\} 1\b/,
      /spamgate_smtp_rejects_total\{phase="connect",family="DNSBL",symbol="DNSBL_TEST_LISTED"\} 1\b/,
      /spamgate_scan_score_count [1-9]/,
      /spamgate_check_duration_seconds_count\{check="spf",outcome="[a-z]+"\} [1-9]/,
      /spamgate_spf_results_total\{identity="mailfrom",result="pass"\} [1-9]/,
      /spamgate_spf_results_total\{identity="helo",result="pass"\} [1-9]/,
      /spamgate_dkim_results_total\{result="none"\} [1-9]/,
      /spamgate_dmarc_results_total\{result="fail"\} [1-9]|spamgate_dmarc_results_total\{result="pass"\} [1-9]/,
      /spamgate_dns_queries_total\{type="MX",result="ok"\} 1\b/,
      /spamgate_dns_cache_lookups_total\{result="hit"\} [1-9]/,
      /spamgate_dnsbl_list_up\{list="testbl"\} 1\b/,
      /spamgate_dnsbl_lookups_total\{list="testbl",result="listed"\} 1\b/,
      /spamgate_dnsbl_lookups_total\{list="testbl",result="error"\} 1\b/,
      /spamgate_bayes_classifications_total\{verdict="[a-z]+"\} [1-9]/,
      /spamgate_bayes_learned_total\{class="spam",source="junk_folder"\} 1\b/,
      /spamgate_delivery_attempts_total\{result="delivered",destination="remote"\} 2\b/, // by MX and through the route
      /spamgate_relay_connections_total\{result="ok"\} 1\b/,
      /spamgate_delivery_attempts_total\{result="delivered",destination="local"\} [1-9]/,
      /spamgate_pop3_logins_total\{result="success"\} 1\b/,
      /spamgate_pop3_logins_total\{result="failure"\} 1\b/,
      /spamgate_imap_logins_total\{result="success"\} 1\b/,
      /spamgate_imap_logins_total\{result="failure"\} 1\b/,
      /spamgate_smtp_auth_total\{result="success"\} 1\b/,
      /spamgate_config_reloads_total\{result="failure"\} 1\b/,
      /spamgate_config_reloads_total\{result="success"\} 1\b/,
    ];
    for (const re of expected) assert.match(metrics.body, re);
  });

  await t.test('promtool check metrics accepts the exposition; promtool check rules the alert rules', async () => {
    const checked = await run('promtool', ['check', 'metrics'], { input: metrics.body, timeoutMs: 30_000 });
    assert.equal(checked.code, 0, `promtool check metrics:\n${checked.stdout}${checked.stderr}`);
    const rules = await run('promtool', ['check', 'rules', ALERTS], { timeoutMs: 30_000 });
    assert.equal(rules.code, 0, rules.stdout + rules.stderr);
    assert.match(rules.stdout, /SUCCESS: \d+ rules found/);
    const example = await run('promtool', ['check', 'config', path.join(ROOT, 'grafana/prometheus/prometheus.yml')], { timeoutMs: 30_000 });
    assert.equal(example.code, 0, example.stdout + example.stderr);
  });

  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as unknown;
  const panelExprs = dashboardExpressions(dashboard);
  const alertExprs = alertExpressions(await readFile(ALERTS, 'utf8'));

  await t.test('dashboard: datasource and instance variables, no hard-coded datasource, only exported metric names', () => {
    assert.deepEqual(datasourceProblems(dashboard), []);
    assert.ok(panelExprs.length >= 40, `expressions: ${panelExprs.length}`);
    const exported = new Set([...metrics.body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const { where, expr } of [...panelExprs, ...alertExprs]) {
      for (const name of metricNames(expr)) assert.ok(exported.has(name), `${where}: ${name} is not exported by spamgate`);
    }
  });

  await t.test('Prometheus scrapes the gateway (OpenMetrics, negotiated) and loaded the alert rules without errors', async () => {
    const targets = await prom.targets();
    assert.equal(targets.length, 1);
    assert.equal(targets[0]?.health, 'up', targets[0]?.lastError);
    assert.equal(targets[0]?.lastError, '');
    const groups = await prom.rules();
    const rules = groups.flatMap((g) => g.rules);
    assert.equal(rules.length, alertExprs.length);
    for (const r of rules) assert.equal(r.health === 'err' ? r.lastError : 'ok', 'ok', r.name);
  });

  await t.test('every dashboard and alert expression parses and returns data through the Prometheus API', async () => {
    // A target reported "up" may not have its first scrape's series queryable yet: poll (bounded).
    // the dashboard's instance variable: label_values(<metric>, instance), on a metric that exists from start
    const variable = JSON.stringify(dashboard).match(/label_values\((spamgate_[a-z0-9_]+), instance\)/)?.[1];
    assert.equal(variable, 'spamgate_process_start_time_seconds', 'the instance variable lists gateways that have not yet had traffic');
    let instances: string[] = [];
    await waitFor('the instance label to be queryable', 30_000, async () => {
      instances = await prom.labelValues('instance', variable);
      return instances.length > 0;
    }).catch(() => undefined);
    assert.deepEqual(instances, [`127.0.0.1:${gw.httpPort}`], 'the instance variable query finds the gateway');
    const all = [
      ...panelExprs.map((e) => ({ where: e.where, expr: substituteGrafanaVariables(e.expr) })),
      ...alertExprs,
    ];
    // Rates need two samples after the traffic: poll (bounded) until every data query returns series.
    let missing: string[] = [];
    await waitFor('every expression to return data', 45_000, async () => {
      missing = [];
      for (const { where, expr } of all) {
        const asWritten = await prom.query(expr);
        assert.equal(asWritten.status, 'success', `${where}: ${expr}\n${asWritten.error ?? ''}`);
        const quantity = withoutComparisons(expr);
        const data = quantity === expr ? asWritten : await prom.query(quantity);
        assert.equal(data.status, 'success', `${where}: ${quantity}\n${data.error ?? ''}`);
        if (!data.data?.result.length) missing.push(`${where}: ${quantity}`);
      }
      return missing.length === 0;
    }).catch(() => assert.fail(`expressions without data:\n${missing.join('\n')}`));
  });
});

test('alert rules: promtool unit tests (grafana/prometheus/alerts-test.yml) on small, plausible inputs', async () => {
  const tested = await run('promtool', ['test', 'rules', path.join(ROOT, 'grafana/prometheus/alerts-test.yml')], { timeoutMs: 60_000 });
  assert.equal(tested.code, 0, tested.stdout + tested.stderr);
});
