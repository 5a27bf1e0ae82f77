// The digests' metrics: digests by result, and what the links were used for. Every series
// exists from the start (at 0), so dashboards and increase() have data before the first digest or click.
import { counter, type Registry } from '../metrics/registry.ts';

export const DIGEST_RESULTS = ['sent', 'failed', 'not_local'] as const;
export type DigestResult = (typeof DIGEST_RESULTS)[number];
export const LINK_ACTIONS = ['view', 'release', 'delete', 'allow', 'block', 'unlist'] as const;
export type LinkAction = (typeof LINK_ACTIONS)[number];
export const LINK_RESULTS = ['ok', 'already_done', 'expired', 'invalid', 'failed', 'list_full'] as const;
export type LinkResult = (typeof LINK_RESULTS)[number];

export function createDigestMetrics(registry: Registry) {
  const digests = counter(registry, 'spamgate_quarantine_digests_total', 'Quarantine digests by result: sent (queued), failed (could not be queued; tried again next round), not_local (no digest: a recipient outside local_domains, or in full-stack mode one no user or alias of its own reaches).', ['result']);
  const links = counter(registry, 'spamgate_quarantine_link_actions_total', 'Digest link requests by action (view: a page shown; release, delete, allow, block: the confirmed POST; unlist: an entry removed on the lists page) and result (ok, already_done, expired, invalid: forged or malformed token, or no lists for it, failed, list_full).', ['action', 'result']);
  for (const result of DIGEST_RESULTS) digests.inc({ result }, 0);
  for (const action of LINK_ACTIONS) for (const result of LINK_RESULTS) links.inc({ action, result }, 0);
  return { digests, links };
}
