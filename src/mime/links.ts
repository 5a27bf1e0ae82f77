// The links of a message, bounded against padding: the first `max` distinct links are kept, then only links to a
// host none of the kept ones has, up to `max` more. Hundreds of spacer images or one tracked link per line to a
// single host can then no longer push a link to another host out of what the link checks (URI block lists,
// content uri rules, look-alike domains) read.

/** The host of a link as written, lower case ("" when none): a key to tell hosts apart, not a URL parse. */
export function roughHost(url: string): string {
  const m = /^(?:[a-z][a-z0-9+.-]*:)?[/\\]*(?:[^@/\\?#]*@)?([^/\\?#:]*)/i.exec(url);
  return (m?.[1] ?? '').toLowerCase();
}

export class LinkList {
  /** Kept links in order of appearance, without repeats. */
  readonly items: string[];
  private readonly seen = new Set<string>();
  private readonly hosts = new Set<string>();
  private extra = 0;

  /** `items`: the array to fill (ParsedMail.links), empty. */
  constructor(
    private readonly max: number,
    items: string[] = [],
  ) {
    this.items = items;
  }

  /** No further link can be kept. */
  get full(): boolean {
    return this.extra >= this.max;
  }

  /** Keeps `url` unless it is a repeat or past the bounds; true when kept. */
  add(url: string): boolean {
    if (this.items.length < this.max) {
      if (this.seen.has(url)) return false;
    } else if (this.extra >= this.max) {
      return false;
    }
    const host = roughHost(url);
    if (this.items.length >= this.max) {
      // a link to a host already kept is no news (nor a repeat of a kept link, whose host is kept)
      if (this.hosts.has(host)) return false;
      this.extra++;
    }
    this.seen.add(url);
    this.hosts.add(host);
    this.items.push(url);
    return true;
  }
}
