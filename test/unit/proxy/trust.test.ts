/**
 * The trust bundle and the chain walk that decides whether an open connection's peer still
 * chains to it (src/proxy/trust.ts), with real certificates from src/ca: a plain root, another
 * CA, and a rotation with a cross-signed certificate (spec §6.6).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { crossSign } from '../../../src/ca/index.js'
import { bundleFromRoots, chainsToBundle, sameRoots, type RootsAnswer } from '../../../src/proxy/trust.js'
import { makeTestCa } from './test-ca.js'

const clusterId = '11111111-2222-3333-4444-555555555555'

function roots (entries: Array<{ id: string, pem: string, intermediates?: string[], active?: boolean }>): RootsAnswer {
  return {
    ActiveRootID: entries.find(e => e.active === true)?.id ?? entries[0]?.id ?? '',
    TrustDomain: `${clusterId}.consul`,
    Roots: entries.map(e => ({ ID: e.id, RootCert: e.pem, IntermediateCerts: e.intermediates ?? null, Active: e.active ?? false }))
  }
}

test('a leaf chains to the bundle of its own root, not to another CA', () => {
  const ca = makeTestCa({ clusterId })
  const other = makeTestCa({ clusterId })
  const leaf = new X509Certificate(ca.issue({ service: 'web' }).certPem)
  assert.equal(chainsToBundle(leaf, bundleFromRoots(roots([{ id: 'a', pem: ca.rootPem }]))), true)
  assert.equal(chainsToBundle(leaf, bundleFromRoots(roots([{ id: 'b', pem: other.rootPem }]))), false)
  assert.equal(chainsToBundle(leaf, bundleFromRoots(roots([{ id: 'b', pem: other.rootPem }, { id: 'a', pem: ca.rootPem }]))), true)
})

test('after a rotation: new leaves chain through the cross-signed certificate; old leaves lose trust when the old root is pruned', () => {
  const oldCa = makeTestCa({ clusterId })
  const newCa = makeTestCa({ clusterId })
  const cross = crossSign({ certPem: newCa.rootPem, signerKeyPem: oldCa.keyPem, signerCertPem: oldCa.rootPem, serial: 99_001, now: new Date() })
  const oldLeaf = new X509Certificate(oldCa.issue({ service: 'web' }).certPem)
  const newLeaf = new X509Certificate(newCa.issue({ service: 'web' }).certPem)
  const both = bundleFromRoots(roots([{ id: 'old', pem: oldCa.rootPem }, { id: 'new', pem: newCa.rootPem, intermediates: [cross], active: true }]))
  assert.equal(both.caPems.length, 3, 'roots, then intermediates')
  assert.deepEqual(both.rootIds, ['new', 'old'])
  assert.equal(chainsToBundle(oldLeaf, both), true)
  assert.equal(chainsToBundle(newLeaf, both), true)
  // Only the old root and the cross-signed certificate: the new leaf still verifies through it.
  const oldWithCross = bundleFromRoots({ ...roots([{ id: 'old', pem: oldCa.rootPem }]), Roots: [{ ID: 'old', RootCert: oldCa.rootPem, IntermediateCerts: [cross], Active: true }] })
  assert.equal(chainsToBundle(newLeaf, oldWithCross), true)
  // The old root pruned: old leaves no longer chain, new ones do.
  const pruned = bundleFromRoots(roots([{ id: 'new', pem: newCa.rootPem, intermediates: [cross], active: true }]))
  assert.equal(chainsToBundle(oldLeaf, pruned), false)
  assert.equal(chainsToBundle(newLeaf, pruned), true)
  assert.equal(sameRoots(both, pruned), false)
  assert.equal(sameRoots(both, bundleFromRoots(roots([{ id: 'old', pem: oldCa.rootPem }, { id: 'new', pem: newCa.rootPem, intermediates: [cross], active: true }]))), true)
})
