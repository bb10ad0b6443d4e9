/**
 * The Connect CA with real agents (issue #4):
 * - bootstrap happens once: the same root on every server across kill -9 of the leader and a
 *   rolling restart, and serials stay unique across leaders;
 * - a leaf from the client agent verifies with `openssl verify` and in a real Node TLS
 *   handshake, carries the service's SPIFFE URI and LeafCertTTL's validity; bad CA configs are
 *   refused with 400s naming the problem;
 * - rotation to an operator's key on a -dev agent (short TTLs): old leaves stay valid through the
 *   cross-signed chain, new leaves come from the new root, and the old root is pruned;
 * - `scripts/cluster.sh`: a cluster started with Connect disabled bootstraps the CA after the
 *   config is changed and the servers are restarted one at a time (seed 003's procedure).
 * Address blocks 61 (cluster), 62 (-dev rotation), 63 (cluster.sh).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { waitFor } from '../../src/util/wait-for.js'
import { AgentCluster } from './agent-cluster.js'
import { killHard, spawnReady, type Spawned } from './harness.js'
import { http, withLogs } from './http-client.js'

const run = promisify(execFile)
const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))
const script = fileURLToPath(new URL('../../../scripts/cluster.sh', import.meta.url))

interface Root { ID: string, RootCert: string, IntermediateCerts: string[] | null, Active: boolean, SigningKeyID: string }
interface Roots { ActiveRootID: string, TrustDomain: string, Roots: Root[] }
interface Leaf { SerialNumber: string, CertPEM: string, PrivateKeyPEM: string, Service: string, ServiceURI: string, ValidAfter: string, ValidBefore: string, ModifyIndex: number }

async function roots (base: string, stale = true): Promise<Roots> {
  const answer = await http(base, 'GET', `/v1/connect/ca/roots${stale ? '?stale' : ''}`)
  assert.equal(answer.status, 200, answer.text)
  return answer.json as Roots
}

async function leaf (base: string, service: string): Promise<Leaf> {
  const answer = await http(base, 'GET', `/v1/agent/connect/ca/leaf/${service}`)
  assert.equal(answer.status, 200, `leaf for ${service}: ${answer.status} ${answer.text}`)
  return answer.json as Leaf
}

async function openssl (args: readonly string[]): Promise<string> {
  const { stdout, stderr } = await run('openssl', args, { timeout: 20_000 })
  return stdout + stderr
}

/** `openssl verify` of `leafPem` against `caPems`, with `untrustedPems` as intermediates. */
async function verify (dir: string, name: string, leafPem: string, caPems: readonly string[], untrustedPems: readonly string[] = []): Promise<string> {
  const leafFile = join(dir, `${name}-leaf.pem`)
  const caFile = join(dir, `${name}-ca.pem`)
  await writeFile(leafFile, firstPem(leafPem))
  await writeFile(caFile, caPems.join(''))
  const args = ['verify', '-CAfile', caFile]
  if (untrustedPems.length > 0) {
    const untrustedFile = join(dir, `${name}-untrusted.pem`)
    await writeFile(untrustedFile, untrustedPems.join(''))
    args.push('-untrusted', untrustedFile)
  }
  try {
    return await openssl([...args, leafFile])
  } catch (err) {
    return `FAILED: ${(err as { stderr?: string, stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? (err as Error).message}`
  }
}

function pemBlocks (text: string): string[] {
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)].map(m => m[0].endsWith('\n') ? m[0] : m[0] + '\n')
}

function firstPem (text: string): string {
  return pemBlocks(text)[0] ?? ''
}

/** The same active root on every listed server (read with ?stale, so each answers from its own state). */
async function sameRootEverywhere (bases: readonly string[]): Promise<Roots> {
  return await waitFor(async () => {
    const all = await Promise.all(bases.map(async base => await roots(base).catch(() => null)))
    const first = all[0]
    if (first === null || first === undefined || first.ActiveRootID === '') return undefined
    return all.every(r => r !== null && r.ActiveRootID === first.ActiveRootID && r.Roots.length === first.Roots.length) ? first : undefined
  }, { timeoutMs: 30_000, what: 'the same active CA root on every server' })
}

test('CA bootstrap happens once; leaves verify with openssl and Node TLS; serials stay unique across leaders', { timeout: 300_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 61, servers: 3, clients: 1 })
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-e2e-'))
  t.after(async () => { await cluster.stop(); await rm(dir, { recursive: true, force: true }) })
  await withLogs(t, () => cluster, async () => {
    const serverUrls = (): string[] => cluster.servers().filter(s => s.proc !== null).map(s => s.http)
    const client = cluster.get('c1').http
    const first = await sameRootEverywhere(serverUrls())
    assert.match(first.TrustDomain, /^[0-9a-f-]{36}\.consul$/)
    assert.equal(first.Roots.length, 1)
    const rootPem = first.Roots[0]!.RootCert

    // A leaf through the client agent: openssl, SPIFFE URI, validity.
    const web = await leaf(client, 'web')
    assert.equal(web.Service, 'web')
    assert.equal(web.ServiceURI, `spiffe://${first.TrustDomain}/ns/default/dc/dc1/svc/web`)
    assert.match(web.PrivateKeyPEM, /^-----BEGIN EC PRIVATE KEY-----/)
    assert.match(await verify(dir, 'web', web.CertPEM, [rootPem]), /: OK/)
    const x509 = new X509Certificate(firstPem(web.CertPEM))
    assert.ok(x509.subjectAltName?.includes(`URI:${web.ServiceURI}`), x509.subjectAltName)
    assert.equal(Date.parse(x509.validTo) - Date.parse(x509.validFrom), 72 * 3_600_000, 'LeafCertTTL defaults to 72h')
    assert.equal(Date.parse(web.ValidBefore) - Date.parse(web.ValidAfter), 72 * 3_600_000)
    assert.equal(x509.checkIssued(new X509Certificate(rootPem)), true)
    const cached = await http(client, 'GET', '/v1/agent/connect/ca/leaf/web')
    assert.equal(cached.headers.get('x-cache'), 'HIT')
    assert.equal((cached.json as Leaf).SerialNumber, web.SerialNumber)

    // mTLS between two leaves with Node's TLS, trusting the roots.
    const db = await leaf(client, 'db')
    const peerUri = await tlsHandshake(web, db, [rootPem])
    assert.equal(peerUri, `URI:${web.ServiceURI}`)

    const serials = new Set<string>([web.SerialNumber, db.SerialNumber])
    for (let i = 0; i < 10; i += 1) serials.add((await leaf(client, `svc-a${i}`)).SerialNumber)

    // kill -9 of the leader: the new leader reuses the root from the log and signs with new serials.
    const leader = await cluster.waitForLeader()
    await cluster.kill(leader.name)
    await waitFor(async () => { const l = await cluster.leader(); return l !== undefined && l.name !== leader.name ? l : undefined }, { timeoutMs: 30_000, what: 'a new leader' })
    for (let i = 0; i < 10; i += 1) serials.add((await waitFor(async () => await leaf(client, `svc-b${i}`).catch(() => undefined), { timeoutMs: 20_000, what: `a leaf for svc-b${i}` })).SerialNumber)
    assert.equal(serials.size, 22, 'every leaf has its own serial, across the leader change')
    await cluster.startAgent(leader.name)
    const afterKill = await sameRootEverywhere(serverUrls())
    assert.equal(afterKill.ActiveRootID, first.ActiveRootID)

    // Rolling restart (SIGTERM, restart), the leader last.
    const order = cluster.servers().map(s => s.name)
    const current = await cluster.waitForLeader()
    for (const name of [...order.filter(n => n !== current.name), current.name]) {
      await cluster.terminate(name)
      await cluster.startAgent(name)
      await cluster.waitForLeader()
    }
    const afterRolling = await sameRootEverywhere(serverUrls())
    assert.equal(afterRolling.ActiveRootID, first.ActiveRootID)
    assert.equal(afterRolling.Roots.length, 1, 'no second root was ever made')
    assert.match(await verify(dir, 'after', (await leaf(client, 'after')).CertPEM, [rootPem]), /: OK/)

    // Bad CA configurations: 400s naming the problem, and the cluster keeps serving.
    const leaderUrl = (await cluster.waitForLeader()).http
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ PrivateKey: 'not a pem' }, /PrivateKey/],
      [{ RootCert: rootPem }, /must provide a private key when providing a root cert/],
      [{ LeafCertTTL: '1m' }, /leaf cert TTL must be greater or equal than 1h0m0s/],
      [{ PrivateKeyType: 'dsa' }, /private key type must be either 'ec' or 'rsa'/],
      [{ LeafCertTtlx: '1h' }, /unknown CA config key/]
    ]
    for (const [config, message] of bad) {
      const answer = await http(leaderUrl, 'PUT', '/v1/connect/ca/configuration', { body: JSON.stringify({ Provider: 'consul', Config: config }) })
      assert.equal(answer.status, 400, `${JSON.stringify(config)}: ${answer.status} ${answer.text}`)
      assert.match(answer.text, message)
    }
    const rsaKey = join(dir, 'rsa1024.pem')
    await openssl(['genrsa', '-out', rsaKey, '1024'])
    const rsaRoot = join(dir, 'rsa1024-root.pem')
    await openssl(['req', '-x509', '-new', '-key', rsaKey, '-days', '30', '-subj', '/CN=weak', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', rsaRoot])
    const weak = await http(leaderUrl, 'PUT', '/v1/connect/ca/configuration', {
      body: JSON.stringify({ Provider: 'consul', Config: { PrivateKey: await readText(rsaKey), RootCert: await readText(rsaRoot) } })
    })
    assert.equal(weak.status, 400, weak.text)
    assert.match(weak.text, /2048/)
    assert.equal((await roots(leaderUrl, false)).ActiveRootID, first.ActiveRootID, 'refused configs changed nothing')
  })
})

async function readText (path: string): Promise<string> {
  const { readFile } = await import('node:fs/promises')
  return await readFile(path, 'utf8')
}

/** A TLS server with `serverLeaf`, a client with `clientLeaf`, both requiring and checking the other against `cas`. Returns the URI the server saw. */
async function tlsHandshake (clientLeaf: Leaf, serverLeaf: Leaf, cas: readonly string[]): Promise<string> {
  const server = createTlsServer({ key: serverLeaf.PrivateKeyPEM, cert: serverLeaf.CertPEM, ca: [...cas], requestCert: true, rejectUnauthorized: true })
  const seen = new Promise<string>((resolve, reject) => {
    server.once('secureConnection', (socket: TLSSocket) => {
      resolve(socket.getPeerX509Certificate()?.subjectAltName ?? '')
      socket.end()
    })
    server.once('tlsClientError', reject)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, key: clientLeaf.PrivateKeyPEM, cert: clientLeaf.CertPEM, ca: [...cas], checkServerIdentity: () => undefined }, () => {
        socket.end()
        resolve()
      })
      socket.once('error', reject)
    })
    return await seen
  } finally {
    server.close()
  }
}

test('rotation to an operator key on a -dev agent: old leaves stay valid, new leaves chain to both roots, the old root is pruned', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-rotate-'))
  const configFile = join(dir, 'ca.json')
  // 10 s leaves (-dev allows them): renewal, expiry and pruning happen within the test.
  await writeFile(configFile, JSON.stringify({ connect: { enabled: true, ca_config: { leaf_cert_ttl: '10s' } } }))
  const base = 'http://127.0.62.1:8500'
  let agent: Spawned | null = await spawnReady(process.execPath, [weft, 'agent', '-dev', '-bind=127.0.62.1', '-client=127.0.62.1', `-config-file=${configFile}`, '-log-json'], { timeoutMs: 30_000, what: 'dev agent' })
  t.after(async () => { if (agent !== null) await killHard(agent); await rm(dir, { recursive: true, force: true }) })
  const old = await waitFor(async () => { const r = await roots(base).catch(() => null); return r !== null && r.ActiveRootID !== '' ? r : undefined }, { timeoutMs: 30_000, what: 'the dev CA' })
  const oldRootPem = old.Roots[0]!.RootCert
  const oldLeaf = await leaf(base, 'web')
  assert.equal(Date.parse(oldLeaf.ValidBefore) - Date.parse(oldLeaf.ValidAfter), 10_000, 'LeafCertTTL 10s')

  // The agent renews before expiry: a blocking query on the leaf returns a new one in time.
  const renewed = await http(base, 'GET', `/v1/agent/connect/ca/leaf/web?index=${oldLeaf.ModifyIndex}&wait=15s`, { timeoutMs: 20_000 })
  assert.notEqual((renewed.json as Leaf).SerialNumber, oldLeaf.SerialNumber, 'renewed before expiry')
  assert.ok(Date.parse((renewed.json as Leaf).ValidAfter) < Date.parse(oldLeaf.ValidBefore))

  // An operator key and root for the same trust domain, made with openssl.
  const clusterId = old.TrustDomain.replace(/\.consul$/, '')
  const keyFile = join(dir, 'new-key.pem')
  const rootFile = join(dir, 'new-root.pem')
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile])
  await openssl(['req', '-x509', '-new', '-key', keyFile, '-days', '3650', '-subj', '/CN=operator-root', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature', '-addext', `subjectAltName=URI:spiffe://${clusterId}.consul`, '-out', rootFile])
  const newRootPem = await readText(rootFile)
  const beforeRotation = await leaf(base, 'api')
  const put = await http(base, 'PUT', '/v1/connect/ca/configuration', {
    body: JSON.stringify({ Provider: 'consul', Config: { LeafCertTTL: '10s', PrivateKey: await readText(keyFile), RootCert: newRootPem } })
  })
  assert.equal(put.status, 200, put.text)
  const rotated = await roots(base)
  assert.equal(rotated.Roots.length, 2, 'both roots are trusted during the overlap')
  const active = rotated.Roots.find(r => r.Active)!
  assert.notEqual(active.ID, old.ActiveRootID)
  const crossSigned = active.IntermediateCerts ?? []
  assert.equal(crossSigned.length, 1, 'the new root carries the cross-signed certificate')
  const bundle = rotated.Roots.map(r => r.RootCert)

  // The leaf issued before the rotation still verifies against the bundle.
  assert.match(await verify(dir, 'old', beforeRotation.CertPEM, bundle), /: OK/)
  // A new leaf (non-blocking fetch: the cached one is from the old root) is signed by the new key:
  // it verifies against the new root alone, and against the old root through the cross-signed cert.
  const newLeaf = await leaf(base, 'api')
  assert.notEqual(newLeaf.SerialNumber, beforeRotation.SerialNumber)
  assert.equal(pemBlocks(newLeaf.CertPEM).length, 2, 'CertPEM carries the cross-signed certificate')
  assert.match(await verify(dir, 'new-direct', newLeaf.CertPEM, [newRootPem]), /: OK/)
  assert.match(await verify(dir, 'new-cross', newLeaf.CertPEM, [oldRootPem], crossSigned), /: OK/)
  assert.match(await verify(dir, 'new-old-only', newLeaf.CertPEM, [oldRootPem]), /FAILED/, 'without the cross-signed cert the old root alone does not verify it')

  // The old root leaves the bundle once no unexpired leaf can depend on it (2 x LeafCertTTL).
  const pruned = await waitFor(async () => { const r = await roots(base); return r.Roots.length === 1 ? r : undefined }, { timeoutMs: 60_000, what: 'the old root to be pruned' })
  assert.equal(pruned.ActiveRootID, active.ID)
  await killHard(agent)
  agent = null
})

test('scripts/cluster.sh: Connect disabled, then enabled by a rolling restart, bootstraps the CA', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-ca-enable-'))
  const env = { ...process.env, WEFT_CLUSTER_DIR: dir, WEFT_CLUSTER_NET: '127.0.63' }
  t.after(async () => {
    await run('bash', [script, 'stop'], { env }).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  await mkdir(join(dir, 'config', 'servers'), { recursive: true })
  const connectFile = join(dir, 'config', 'servers', 'connect.json')
  await writeFile(connectFile, JSON.stringify({ connect: { enabled: false } }))
  await run('bash', [script, 'start'], { env, timeout: 120_000 })
  const servers = ['127.0.63.11', '127.0.63.12', '127.0.63.13'].map(ip => `http://${ip}:8500`)
  const disabled = await http(servers[0]!, 'GET', '/v1/connect/ca/roots')
  assert.equal(disabled.status, 500)
  assert.match(disabled.text, /Connect must be enabled in order to use this endpoint/)

  await writeFile(connectFile, JSON.stringify({ connect: { enabled: true } }))
  const { stdout } = await run('bash', [script, 'restart-rolling'], { env, timeout: 240_000 })
  t.diagnostic(stdout.trim().split('\n').slice(-2).join(' | '))
  const bootstrapped = await sameRootEverywhere(servers)
  assert.equal(bootstrapped.Roots.length, 1)
  const viaClient = await roots('http://127.0.63.1:8500', false)
  assert.equal(viaClient.ActiveRootID, bootstrapped.ActiveRootID)
})
