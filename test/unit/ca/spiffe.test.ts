/**
 * SPIFFE IDs (spec §6.3): building, parsing every Connect form (with and without a partition),
 * case-insensitive hosts, per-segment unescaping, and precise refusals; plus the colon-hex forms
 * of key ids and serials (§6.1, §7.2).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { agentUri, colonHex, meshGatewayUri, parseSpiffeId, serialHex, serviceUri, signingUri, trustDomainFor } from '../../../src/ca/spiffe.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

const td = 'd2b5f1c0-8a4e-4b2f-9c61-0e7d3a5b9f42.consul'

test('trust domain, signing and service URIs have Consul\'s shape', () => {
  assert.equal(trustDomainFor('D2B5F1C0-8A4E-4B2F-9C61-0E7D3A5B9F42'), td)
  assert.equal(signingUri(td), `spiffe://${td}`)
  assert.equal(serviceUri(td, 'dc1', 'web'), `spiffe://${td}/ns/default/dc/dc1/svc/web`)
  assert.equal(serviceUri(td, 'dc1', 'web', 'team-a'), `spiffe://${td}/ns/team-a/dc/dc1/svc/web`)
  assert.equal(agentUri({ trustDomain: td, datacenter: 'dc1', nodeId: 'abc' }), `spiffe://${td}/agent/client/dc/dc1/id/abc`)
  assert.equal(meshGatewayUri({ trustDomain: td, datacenter: 'dc2' }), `spiffe://${td}/gateway/mesh/dc/dc2`)
  assert.throws(() => trustDomainFor(''), /cluster ID must be non-empty/)
  assert.throws(() => serviceUri(td, 'dc1', ''), /service must not be empty/)
})

test('parseSpiffeId reads every Connect identity', () => {
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/web`),
    { kind: 'service', trustDomain: td, partition: 'default', namespace: 'default', datacenter: 'dc1', service: 'web' })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/ap/part1/ns/ns1/dc/dc1/svc/db`),
    { kind: 'service', trustDomain: td, partition: 'part1', namespace: 'ns1', datacenter: 'dc1', service: 'db' })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/agent/client/dc/dc1/id/node-1`),
    { kind: 'agent', trustDomain: td, partition: 'default', datacenter: 'dc1', nodeId: 'node-1' })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/gateway/mesh/dc/dc1`),
    { kind: 'mesh-gateway', trustDomain: td, partition: 'default', datacenter: 'dc1' })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/agent/server/dc/dc1`), { kind: 'server', trustDomain: td, datacenter: 'dc1' })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}`), { kind: 'signing', trustDomain: td })
  assert.deepEqual(parseSpiffeId(`spiffe://${td}/`), { kind: 'signing', trustDomain: td })
})

test('host is case-insensitive and path segments are unescaped after splitting', () => {
  const upper = parseSpiffeId(`SPIFFE://${td.toUpperCase()}/ns/default/dc/dc1/svc/web`)
  assert.equal(upper.trustDomain, td)
  const escaped = parseSpiffeId(`spiffe://${td}/ns/default/dc/dc1/svc/we%2Fb%20x`)
  assert.equal(escaped.kind, 'service')
  assert.equal(escaped.kind === 'service' ? escaped.service : '', 'we/b x')
  // Building and parsing round trip for names that need escaping.
  const built = serviceUri(td, 'dc 1', 'a/b')
  const parsed = parseSpiffeId(built)
  assert.equal(parsed.kind === 'service' ? `${parsed.datacenter}|${parsed.service}` : '', 'dc 1|a/b')
})

test('parseSpiffeId refuses malformed IDs with ERR_INVALID_INPUT naming the problem', () => {
  const cases: Array<[string, RegExp]> = [
    ['https://example.com/ns/default/dc/dc1/svc/web', /must start with "spiffe:\/\/"/],
    ['spiffe:///ns/default/dc/dc1/svc/web', /empty trust domain/],
    [`spiffe://${td}/ns/default/dc/dc1/svc`, /is not a service, agent, server, mesh-gateway or signing ID/],
    [`spiffe://${td}/ns/default/dc/dc1/svc/web/extra`, /is not a service/],
    [`spiffe://${td}/ns//dc/dc1/svc/web`, /empty path segment/],
    [`spiffe://${td}/ns/default/dc/dc1/svc/%zz`, /invalid percent-escape/],
    [`spiffe://${td}/ns/default/dc/dc1/svc/web?x=1`, /query or fragment/],
    ['spiffe://bad host/x', /invalid trust domain/],
    [`spiffe://${td}/${'a'.repeat(3000)}`, /more than the 2048 allowed/]
  ]
  for (const [uri, pattern] of cases) {
    assert.throws(() => parseSpiffeId(uri), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && pattern.test((err as Error).message), uri)
  }
})

test('colonHex and serialHex use lowercase colon-separated bytes', () => {
  assert.equal(colonHex(new Uint8Array([0x3c, 0x9e, 0x0a, 0xa7])), '3c:9e:0a:a7')
  assert.equal(colonHex(new Uint8Array(0)), '')
  assert.equal(serialHex(10), '0a')
  assert.equal(serialHex(300), '01:2c')
  assert.equal(serialHex(128), '80')
  assert.equal(serialHex(0x10000n), '01:00:00')
  assert.equal(serialHex(1n << 64n), '01:00:00:00:00:00:00:00:00')
})
