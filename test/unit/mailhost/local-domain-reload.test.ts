// Local delivery across a reload that changes local_domains: the queue routed the recipient by the list of the attempt's
// start, the user directory may have taken the new list before the recipient's turn (a message's local recipients
// go MAX_PARALLEL_LOCAL at a time).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSpool, spoolDir } from '../../../src/queue/spool.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { aliasConfig, aliasDataDir, bigMessage, bobTo, openAliasHost } from '../../helpers/alias-mailhost.ts';

test('a recipient routed to local delivery before a reload took its domain out of local_domains is deferred (routed again, by MX, at the next attempt), never bounced as "not a local domain"', async (t) => {
  const { dataDir, password } = await aliasDataDir(t, 'spamgate-domain-reload-');
  const book = { users: { 'postmaster@localhost': undefined }, aliases: {} };
  const config = aliasConfig(dataDir, password, book, { local_domains: ['localhost', 'gone.example'] });
  const host = openAliasHost(t, config, dataDir);
  const spool = await openSpool({ dir: spoolDir(dataDir), fsync: false, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  t.after(() => spool.close());
  const deliver = host.deliverLocal(spool, undefined, undefined, spool.progress);
  const envelope = bobTo(['postmaster@gone.example'], systemClock.now());
  // the reload puts the new directory in place between the router's choice and this recipient's delivery
  const next = host.directory.prepare({ users: config.users, aliases: config.aliases, local_domains: ['localhost'] });
  assert.deepEqual(next.problems, []);
  next.commit();
  const r = await deliver(envelope, 'postmaster@gone.example', bigMessage(), 'Q1');
  // was perm 550 5.1.2: the sender got a bounce for mail the queue would have sent on by MX
  assert.equal(r.status, 'temp', JSON.stringify(r));
});
