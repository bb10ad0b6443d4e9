/**
 * Peer identities on the data path (src/proxy/identity.ts): URI SANs from Node's
 * subjectAltName text, the source service of a client certificate, and the exact identity an
 * upstream demands of the server it dials (spec §7.4).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkServerService, expectedServiceUri, peerService, uriSans } from '../../../src/proxy/identity.js'

const td = '11111111-2222-3333-4444-555555555555.consul'
const web = `spiffe://${td}/ns/default/dc/dc1/svc/web`

test('uriSans reads URI entries in order, skipping other kinds, unquoting JSON-quoted values', () => {
  assert.deepEqual(uriSans(undefined), [])
  assert.deepEqual(uriSans(''), [])
  assert.deepEqual(uriSans(`URI:${web}`), [web])
  assert.deepEqual(uriSans(`DNS:example.com, URI:${web}, IP Address:127.0.0.1`), [web])
  assert.deepEqual(uriSans('URI:"spiffe://a.consul/ns/default/dc/dc1/svc/x,y", URI:spiffe://b'), ['spiffe://a.consul/ns/default/dc/dc1/svc/x,y', 'spiffe://b'])
})

test('peerService takes the source service from exactly one SPIFFE service URI', () => {
  assert.deepEqual(peerService(`URI:${web}`), { ok: true, uri: web, service: 'web', namespace: 'default', datacenter: 'dc1', trustDomain: td })
  const none = peerService('DNS:web')
  assert.equal(none.ok, false)
  assert.match((none as { reason: string }).reason, /exactly one URI SAN, found 0/)
  const two = peerService(`URI:${web}, URI:${web}`)
  assert.match((two as { reason: string }).reason, /exactly one URI SAN, found 2/)
  const agent = peerService(`URI:spiffe://${td}/agent/client/dc/dc1/id/abc`)
  assert.match((agent as { reason: string }).reason, /is a agent identity, not a service/)
  const junk = peerService('URI:https://example.com/x')
  assert.match((junk as { reason: string }).reason, /is not a SPIFFE ID/)
})

test('checkServerService accepts exactly the destination identity and refuses every other one', () => {
  const expected = { trustDomain: td.toUpperCase(), datacenter: 'dc1', service: 'socat' }
  assert.equal(expectedServiceUri(expected), `spiffe://${td}/ns/default/dc/dc1/svc/socat`)
  assert.equal(checkServerService(`URI:spiffe://${td}/ns/default/dc/dc1/svc/socat`, expected), null)
  assert.equal(checkServerService(`URI:spiffe://${td.toUpperCase()}/ns/default/dc/dc1/svc/socat`, expected), null, 'the trust domain compares case-insensitively')
  const refusals = [
    [`URI:spiffe://${td}/ns/default/dc/dc1/svc/db`, /is for .*\/svc\/db, want .*\/svc\/socat/],
    [`URI:spiffe://${td}/ns/default/dc/dc1/svc/Socat`, /is for .*\/svc\/Socat/],
    [`URI:spiffe://other.consul/ns/default/dc/dc1/svc/socat`, /is for spiffe:\/\/other\.consul/],
    [`URI:spiffe://${td}/ns/default/dc/dc2/svc/socat`, /dc\/dc2/],
    [`URI:spiffe://${td}/ns/team/dc/dc1/svc/socat`, /ns\/team/],
    [`URI:spiffe://${td}/ap/part/ns/default/dc/dc1/svc/socat`, /ap\/part/],
    ['DNS:socat', /server certificate refused .*exactly one URI SAN/]
  ] as const
  for (const [altName, pattern] of refusals) assert.match(String(checkServerService(altName, expected)), pattern, altName)
})
