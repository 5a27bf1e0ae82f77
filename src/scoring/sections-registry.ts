// Every top-level section a rules/*.yaml file may hold, with its schema and merge rule.
// A module that reads its own section from rules/ adds it here.
import type { SectionMap } from './rules-loader.ts';
import { concatLists, mergeObjects, mergeRecords } from './rules-loader.ts';
import { actionsSectionSchema, overridesSectionSchema, symbolsSectionSchema } from './rules-sections.ts';
import { dnsblSectionSchema } from '../dns/dnsbl-rules.ts';
import { mergeUriblSections, uriblSectionSchema } from '../dns/uribl-rules.ts';
import { resolveListsSection } from '../lists/compile.ts';
import { listsSectionSchema } from '../lists/list-schema.ts';

import { contentRulesSectionSchema, lookalikeSectionSchema } from '../content/rules-schema.ts';

export const RULES_SECTIONS: SectionMap = {
  symbols: { schema: symbolsSectionSchema, merge: mergeRecords } as SectionMap[string],
  actions: { schema: actionsSectionSchema, merge: mergeObjects } as SectionMap[string],
  overrides: { schema: overridesSectionSchema, merge: mergeRecords } as SectionMap[string],
  dnsbl: { schema: dnsblSectionSchema, merge: mergeRecords } as SectionMap[string],
  uribl: { schema: uriblSectionSchema, merge: mergeUriblSections } as SectionMap[string],
  content_rules: { schema: contentRulesSectionSchema, merge: concatLists } as SectionMap[string],
  lookalike: { schema: lookalikeSectionSchema, merge: mergeObjects } as SectionMap[string],
  lists: { schema: listsSectionSchema, merge: mergeRecords, resolve: resolveListsSection } as SectionMap[string],
};
