/**
 * Connect CA endpoints at the HTTP layer (spec §6.1, §7.1, §7.2): roots as JSON and as a PEM
 * chain, the `pem` parameter's 400, configuration PUT body decoding and its 400s, the agent's
 * cached roots and leaf with X-Cache, and bad service names.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CaConfigUpdate, CaRootReply } from '../../../src/rpc/types.js'
import { request, requestJson, startApiFor } from '../../support/api-harness.js'

const root: CaRootReply = {
  ID: 'aa:bb', Name: 'Consul CA Primary Cert', SerialNumber: 1, SigningKeyID: '01:02', ExternalTrustDomain: 'c1',
  NotBefore: '2026-01-01T00:00:00Z', NotAfter: '2036-01-01T00:00:00Z', RootCert: '-----BEGIN CERTIFICATE-----\nAAA=\n-----END CERTIFICATE-----\n',
  IntermediateCerts: ['-----BEGIN CERTIFICATE-----\nBBB=\n-----END CERTIFICATE-----'], Active: true, PrivateKeyType: 'ec', PrivateKeyBits: 256,
  CreateIndex: 5, ModifyIndex: 5
}

test('GET /v1/connect/ca/roots answers JSON, or the PEM chain with ?pem; a non-boolean pem is 400', async (t) => {
  const h = await startApiFor(t)
  h.server.caRootsValue = { ActiveRootID: 'aa:bb', TrustDomain: 'c1.consul', Roots: [root] }
  const json = await requestJson(`${h.base}/v1/connect/ca/roots`)
  assert.equal(json.status, 200)
  assert.equal((json.json as { TrustDomain: string }).TrustDomain, 'c1.consul')
  assert.ok(json.headers.get('x-consul-index'))
  const pem = await request(`${h.base}/v1/connect/ca/roots?pem=true`)
  assert.equal(pem.headers.get('content-type'), 'application/pem-certificate-chain')
  assert.equal(pem.text, root.RootCert + root.IntermediateCerts![0] + '\n')
  const bad = await request(`${h.base}/v1/connect/ca/roots?pem=maybe`)
  assert.equal(bad.status, 400)
  assert.equal(bad.text, "The 'pem' query parameter must be a boolean value")
})

test('PUT /v1/connect/ca/configuration decodes the body leniently and refuses wrong types with 400', async (t) => {
  const h = await startApiFor(t)
  const ok = await request(`${h.base}/v1/connect/ca/configuration`, {
    method: 'PUT', body: JSON.stringify({ provider: 'consul', config: { LeafCertTTL: '24h' }, force_without_cross_signing: true })
  })
  assert.equal(ok.status, 200, ok.text)
  const update = h.server.calls.at(-1)?.args[0] as CaConfigUpdate
  assert.deepEqual(update, { Provider: 'consul', Config: { LeafCertTTL: '24h' }, State: null, ForceWithoutCrossSigning: true })
  const cases: Array<[string, RegExp]> = [
    ['{', /Request decode failed/],
    ['[]', /must be a JSON object/],
    [JSON.stringify({ Provider: 'consul', Config: 'x' }), /Config must be a JSON object/],
    [JSON.stringify({ Provider: 7 }), /Provider must be a string/],
    [JSON.stringify({ ForceWithoutCrossSigning: 'yes' }), /ForceWithoutCrossSigning must be a boolean/]
  ]
  for (const [body, message] of cases) {
    const answer = await request(`${h.base}/v1/connect/ca/configuration`, { method: 'PUT', body })
    assert.equal(answer.status, 400, body)
    assert.match(answer.text, message)
  }
})

test('agent roots and leaf come from the agent caches with X-Cache; bad service names are 400', async (t) => {
  const h = await startApiFor(t)
  const roots = await request(`${h.base}/v1/agent/connect/ca/roots`)
  assert.equal(roots.status, 200)
  assert.equal(roots.headers.get('x-cache'), 'HIT')
  const none = await request(`${h.base}/v1/agent/connect/ca/leaf/web`)
  assert.equal(none.status, 500)
  assert.equal(none.text, 'cluster has no CA bootstrapped yet')
  h.agent.connectLeafValue = {
    value: { SerialNumber: '0a', CertPEM: 'C', PrivateKeyPEM: 'K', Service: 'web', ServiceURI: 'spiffe://c1.consul/ns/default/dc/dc1/svc/web', ValidAfter: 'a', ValidBefore: 'b', CreateIndex: 9, ModifyIndex: 9 },
    index: 9,
    hit: false
  }
  const leaf = await request(`${h.base}/v1/agent/connect/ca/leaf/web?index=3&wait=1s`)
  assert.equal(leaf.status, 200)
  assert.equal(leaf.headers.get('x-cache'), 'MISS')
  assert.equal(leaf.headers.get('x-consul-index'), '9')
  const call = h.agent.calls.at(-1)!
  assert.equal(call.args[0], 'web')
  assert.equal((call.args[1] as { minQueryIndex: number }).minQueryIndex, 3)
  for (const name of ['bad%20name', '-web', 'a%2Fb']) {
    const answer = await request(`${h.base}/v1/agent/connect/ca/leaf/${name}`)
    assert.equal(answer.status, 400, name)
    assert.match(answer.text, /Invalid service name/)
  }
  assert.equal((await request(`${h.base}/v1/agent/connect/ca/leaf/`)).status, 400)
})
