/**
 * ConnectCa (src/rpc/connect-ca.ts) over a real FSM, with proposals applied in order as Raft
 * would: bootstrap exactly once (also when two leaders race), CSR checks, unique serials from
 * reserved blocks, config changes that do and do not rotate, pruning and RotationPeriod with an
 * injected clock, and the CSR rate limit.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { pino } from 'pino'
import { Fsm } from '../../../src/fsm/index.js'
import { encodeCommand, type Command } from '../../../src/fsm/commands.js'
import { ConnectCa, serialBlockSize } from '../../../src/rpc/connect-ca.js'
import { createCsrPem, generateLeafKey } from '../../../src/ca/csr.js'
import { serviceUri } from '../../../src/ca/spiffe.js'
import { generatePrivateKeyPem } from '../../../src/ca/keys.js'
import { createRootCert } from '../../../src/ca/certs.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

const clusterId = '0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'
const trustDomain = `${clusterId}.consul`
const logger = pino({ level: 'silent' })

class Cluster {
  readonly fsm = new Fsm()
  index = 0
  proposals: string[] = []
  now = Date.parse('2026-11-23T12:00:00Z')

  constructor () {
    this.apply({ type: 'setClusterMeta', Entries: [{ Key: 'cluster-id', Value: clusterId }], IfAbsent: true })
  }

  apply (command: Command): unknown {
    this.index += 1
    this.proposals.push(command.type)
    return this.fsm.apply({ index: this.index, term: 1, type: 'command', data: encodeCommand(command) })
  }

  ca (caConfig: Record<string, unknown> = {}, overrides: { enabled?: boolean, minimumLeafTtlMs?: number } = {}): ConnectCa {
    return new ConnectCa({
      enabled: overrides.enabled ?? true,
      datacenter: 'dc1',
      agentCaConfig: caConfig,
      minimumLeafTtlMs: overrides.minimumLeafTtlMs ?? 3_600_000,
      reader: this.fsm.reader,
      isLeader: () => true,
      propose: async command => this.apply(command) as never,
      logger,
      now: () => this.now
    })
  }
}

function csrFor (service: string, options: { trustDomain?: string, dc?: string } = {}): string {
  const key = generateLeafKey()
  return createCsrPem({ privateKey: key.privateKey, uri: serviceUri(options.trustDomain ?? trustDomain, options.dc ?? 'dc1', service) })
}

async function rejects (promise: Promise<unknown>, pattern: RegExp, code = 'ERR_INVALID_INPUT'): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isControlPlaneError(err), String(err))
    assert.equal(err.code, code, err.message)
    assert.match(err.message, pattern)
    return true
  })
}

test('bootstrap writes one key and root, once; a second leader racing it loses the compare-and-set', async () => {
  const cluster = new Cluster()
  const a = cluster.ca()
  const b = cluster.ca()
  await Promise.all([a.maintain(), b.maintain()])
  await a.maintain()
  const roots = a.rootsReply()
  assert.equal(roots.Roots.length, 1)
  assert.equal(roots.TrustDomain, trustDomain)
  assert.equal(roots.ActiveRootID, roots.Roots[0]!.ID)
  const root = new X509Certificate(roots.Roots[0]!.RootCert)
  assert.ok(root.ca)
  assert.ok(root.subjectAltName?.includes(`URI:spiffe://${trustDomain}`))
  assert.equal(Date.parse(root.validTo) - Date.parse(root.validFrom), 87_600 * 3_600_000, 'RootCertTTL 87600h')
  // Only the winner's key is kept.
  assert.ok(cluster.fsm.reader.caProviderState(roots.ActiveRootID) !== undefined)
  assert.equal(JSON.stringify(roots).includes('PRIVATE KEY'), false, 'the roots reply never carries the key')
  assert.deepEqual(a.configReply().Config, { LeafCertTTL: '72h', IntermediateCertTTL: '8760h', RootCertTTL: '87600h' })
})

test('Connect disabled: no bootstrap, and every CA call says so', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca({}, { enabled: false })
  await ca.maintain()
  assert.equal(cluster.fsm.reader.caRoots().Roots.length, 0)
  await rejects(ca.sign(csrFor('web'), 'web'), /Connect must be enabled in order to use this endpoint/, 'ERR_REJECTED')
})

test('sign checks the CSR: service, trust domain, datacenter, PEM; serials are unique across blocks', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca({ csr_max_per_second: 0 })
  await rejects(ca.sign(csrFor('web'), 'web'), /CA is uninitialized/, 'ERR_REJECTED')
  await ca.maintain()
  await rejects(ca.sign(csrFor('db'), 'web'), /names service "db", but the request is for "web"/)
  await rejects(ca.sign(csrFor('web', { trustDomain: 'other.consul' }), 'web'), /different trust domain: other\.consul, we are/)
  await rejects(ca.sign(csrFor('web', { dc: 'dc2' }), 'web'), /different datacenter: dc2, we are dc1/)
  await rejects(ca.sign('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', 'web'), /CSR/)
  await rejects(ca.sign('garbage', 'web'), /PEM|CSR/)

  const leaf = await ca.sign(csrFor('web'), 'web')
  assert.equal(leaf.ServiceURI, serviceUri(trustDomain, 'dc1', 'web'))
  assert.equal(Date.parse(leaf.ValidBefore) - Date.parse(leaf.ValidAfter), 72 * 3_600_000)
  assert.equal(leaf.SigningKeyID, cluster.fsm.reader.caRoots().Roots[0]!.SigningKeyID)
  const x509 = new X509Certificate(leaf.CertPEM)
  assert.ok(x509.checkIssued(new X509Certificate(cluster.fsm.reader.caRoots().Roots[0]!.RootCert)))

  const csr = csrFor('web')
  const serials = new Set<string>([leaf.SerialNumber])
  const blocksBefore = cluster.proposals.filter(type => type === 'caIncrementSerial').length
  for (let i = 0; i < serialBlockSize + 10; i += 1) serials.add((await ca.sign(csr, 'web')).SerialNumber)
  assert.equal(serials.size, serialBlockSize + 11)
  assert.equal(cluster.proposals.filter(type => type === 'caIncrementSerial').length - blocksBefore, 1, 'one more block for 4106 leaves')
  // A new leader starts a new block: no serial is reused.
  const next = cluster.ca({ csr_max_per_second: 0 })
  for (let i = 0; i < 10; i += 1) serials.add((await next.sign(csr, 'web')).SerialNumber)
  assert.equal(serials.size, serialBlockSize + 21)
})

test('config: identical is a no-op, TTL-only keeps the root, a new key rotates with a cross-signed root; old roots are pruned after 2 x LeafCertTTL', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca()
  await ca.maintain()
  const first = ca.rootsReply()
  const count = cluster.index
  await ca.setConfig({ Provider: 'consul', Config: { LeafCertTTL: '72h', IntermediateCertTTL: '8760h', RootCertTTL: '87600h' }, State: null, ForceWithoutCrossSigning: false })
  assert.equal(cluster.index, count, 'identical config writes nothing')
  await ca.setConfig({ Provider: 'consul', Config: { LeafCertTTL: '24h' }, State: null, ForceWithoutCrossSigning: false })
  assert.equal(ca.rootsReply().ActiveRootID, first.ActiveRootID, 'TTL change keeps the root')
  assert.equal(ca.configReply().Config.LeafCertTTL, '24h')

  await rejects(ca.setConfig({ Provider: 'vault', Config: {}, State: null, ForceWithoutCrossSigning: false }), /unknown CA provider "vault"/)
  await rejects(ca.setConfig({ Provider: 'consul', Config: {}, State: { x: 'y' }, ForceWithoutCrossSigning: false }), /Provider State is read-only/)
  await rejects(ca.setConfig({ Provider: 'consul', Config: { PrivateKey: '-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n' }, State: null, ForceWithoutCrossSigning: false }), /PrivateKey/)
  assert.equal(ca.rootsReply().ActiveRootID, first.ActiveRootID, 'refused configs changed nothing')

  const key = generatePrivateKeyPem({ type: 'ec', bits: 384 })
  const root = createRootCert({ privateKeyPem: key, clusterId, serial: 99, notBefore: new Date(cluster.now), ttlMs: 365 * 24 * 3_600_000 })
  await ca.setConfig({ Provider: 'consul', Config: { LeafCertTTL: '24h', PrivateKey: key, RootCert: root }, State: null, ForceWithoutCrossSigning: false })
  const rotated = ca.rootsReply()
  assert.equal(rotated.Roots.length, 2)
  const active = rotated.Roots.find(r => r.Active)!
  assert.notEqual(active.ID, first.ActiveRootID)
  assert.equal(active.PrivateKeyType, 'ec')
  assert.equal(active.PrivateKeyBits, 384)
  assert.equal(active.IntermediateCerts?.length, 1)
  const cross = new X509Certificate(active.IntermediateCerts![0]!)
  assert.ok(cross.checkIssued(new X509Certificate(first.Roots[0]!.RootCert)), 'the old root signed the cross-signed certificate')
  assert.equal(cross.publicKey.export({ type: 'spki', format: 'der' }).equals(new X509Certificate(root).publicKey.export({ type: 'spki', format: 'der' })), true)

  await ca.maintain()
  assert.equal(ca.rootsReply().Roots.length, 2, 'kept while leaves of the old root may live')
  cluster.now += 2 * 24 * 3_600_000
  await ca.maintain()
  const pruned = ca.rootsReply()
  assert.deepEqual(pruned.Roots.map(r => r.ID), [active.ID])
  assert.equal(cluster.fsm.reader.caProviderState(first.ActiveRootID), undefined, 'the old key is gone too')
})

test('RotationPeriod: a generated root older than it is replaced at the next leader round', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca({ rotation_period: '48h' })
  await ca.maintain()
  const first = ca.rootsReply().ActiveRootID
  cluster.now += 47 * 3_600_000
  await ca.maintain()
  assert.equal(ca.rootsReply().ActiveRootID, first)
  cluster.now += 2 * 3_600_000
  await ca.maintain()
  const after = ca.rootsReply()
  assert.notEqual(after.ActiveRootID, first)
  assert.equal(after.Roots.length, 2)
})

test('CSRMaxPerSecond: past the budget a CSR waits at most 500 ms, then gets "Rate limit reached"', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca({ csr_max_per_second: 1 })
  await ca.maintain()
  const csr = csrFor('web')
  await ca.sign(csr, 'web')
  await rejects(ca.sign(csr, 'web'), /Rate limit reached, try again later/, 'ERR_OVERLOADED')
})

test('agent ca_config is checked: bad values stop the bootstrap with a logged error, not a crash', async () => {
  const cluster = new Cluster()
  const ca = cluster.ca({ leaf_cert_ttl: 'forever' })
  await ca.maintain()
  assert.equal(cluster.fsm.reader.caRoots().Roots.length, 0)
})
