// The `uribl` rules section: bounds of the URI block list lookups of one message. `max_uris` distinct
// registered domains (and as many link addresses) are asked per list at most; `exclude` names domains never
// asked (with everything under them): well-known big sites that no list holds and every newsletter links to.
// Files merge in order: a later `max_uris` replaces the earlier, `exclude` entries add up.
import { z } from 'zod';
import { domain } from '../config/units.ts';
import { registeredDomain } from './registered-domain.ts';

export const DEFAULT_MAX_URIS = 50;

export const uriblSectionSchema = z.strictObject({
  max_uris: z.number().int().min(1).max(500).optional(),
  exclude: z
    .array(domain())
    .max(100_000)
    .superRefine((entries, ctx) => {
      // links are asked by registered domain, so an entry below one (www.partner.example) would never match; a
      // public suffix (blogspot.com) stands for every domain under it
      entries.forEach((entry, i) => {
        const d = registeredDomain(entry);
        if (d !== undefined && d !== entry) ctx.addIssue({ code: 'custom', path: [i], message: `expected a registered domain (${d}), found ${entry}` });
      });
    })
    .optional(),
});
export type UriblSection = z.output<typeof uriblSectionSchema>;

export function mergeUriblSections(prev: UriblSection | undefined, next: UriblSection): UriblSection {
  const maxUris = next.max_uris ?? prev?.max_uris;
  const exclude = [...(prev?.exclude ?? []), ...(next.exclude ?? [])];
  return { ...(maxUris !== undefined ? { max_uris: maxUris } : {}), ...(exclude.length ? { exclude } : {}) };
}

export interface UriblSettings {
  maxUris: number;
  exclude: ReadonlySet<string>;
}

export function uriblSettings(section: UriblSection | undefined): UriblSettings {
  return { maxUris: section?.max_uris ?? DEFAULT_MAX_URIS, exclude: new Set(section?.exclude ?? []) };
}
