// outbound.routes matching: the exact domain first, then `.parent` entries from the nearest parent up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchRoute } from '../../../src/mailhost/route-match.ts';

const routes = new Map([
  ['partner.example', 'exact'],
  ['.partner.example', 'subdomains'],
  ['.eu.partner.example', 'eu'],
  ['.example', 'any .example'],
]);

test('the exact domain wins over a .parent entry; a .parent entry is its subdomains only', () => {
  assert.equal(matchRoute(routes, 'partner.example'), 'exact');
  assert.equal(matchRoute(routes, 'Partner.Example.'), 'exact', 'case and a trailing dot do not matter');
  assert.equal(matchRoute(routes, 'mail.partner.example'), 'subdomains');
  assert.equal(matchRoute(routes, 'a.b.partner.example'), 'subdomains');
});

test('the nearest parent wins; nothing matches outside the entries', () => {
  assert.equal(matchRoute(routes, 'paris.eu.partner.example'), 'eu');
  assert.equal(matchRoute(routes, 'eu.partner.example'), 'subdomains', '.eu.partner.example is below eu.partner.example, not it');
  assert.equal(matchRoute(routes, 'other.example'), 'any .example');
  assert.equal(matchRoute(routes, 'example'), undefined);
  assert.equal(matchRoute(routes, 'partner.example.org'), undefined);
  assert.equal(matchRoute(routes, 'xpartner.example'), 'any .example', 'a label is matched whole, not as a suffix of characters');
  assert.equal(matchRoute(new Map([['.partner.example', 1]]), 'xpartner.example'), undefined);
});
