// What is known of each DNS block list's health (RFC 5782 §5 test points) across config reloads, and the
// spamgate_dnsbl_list_up gauge built from it. One book per app; every engine built from a snapshot takes
// its lists' records from it: a list whose definition is unchanged keeps its record (a reload neither
// re-probes it nor flips it), a new or redefined one starts unknown. The gauge shows the lists of the
// running engine only, and only once checked: a disabled or removed list has no series, and a list is not
// called up before its first check.
import { isDeepStrictEqual } from 'node:util';
import { Gauge, type Registry } from 'prom-client';
import type { DnsblList } from './dnsbl-rules.ts';

export interface ListHealth {
  up: boolean;
  /** A conclusive health check has set `up` (a list without health checks is never known). */
  known: boolean;
  /** When the list is due to be probed again from (undefined: never probed). */
  checkedAt: number | undefined;
  pending: Promise<void> | undefined;
}

interface Entry {
  name: string;
  list: DnsblList;
  health: ListHealth;
}

export const DNSBL_LIST_UP = 'spamgate_dnsbl_list_up';

export class DnsblHealthBook {
  /** Records of the running engine's lists, then of any engine built since (not yet running). */
  private entries: Entry[] = [];
  private running: ReadonlyMap<string, ListHealth> = new Map();

  constructor(registry?: Registry) {
    if (!registry) return;
    // a book owns the gauge: values are read from the running engine's records at each scrape
    registry.removeSingleMetric(DNSBL_LIST_UP);
    const book = this;
    new Gauge({
      name: DNSBL_LIST_UP,
      help: 'DNS block list health from its RFC 5782 test points (1 up, 0 dead); no series until checked',
      labelNames: ['list'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [list, h] of book.running) if (h.known) this.set({ list }, h.up ? 1 : 0);
      },
    });
  }

  /** The record for a list as now defined: the known one if its definition is unchanged, else a fresh one. */
  recordFor(name: string, list: DnsblList): ListHealth {
    const same = this.entries.find((e) => e.name === name && isDeepStrictEqual(e.list, list));
    if (same) return same.health;
    const health: ListHealth = { up: true, known: false, checkedAt: undefined, pending: undefined };
    this.entries.push({ name, list, health });
    return health;
  }

  /** The engine with these records now serves: the gauge shows them, and records of other lists are forgotten. */
  activate(records: ReadonlyMap<string, ListHealth>): void {
    this.running = records;
    const kept = new Set(records.values());
    this.entries = this.entries.filter((e) => kept.has(e.health));
  }
}
