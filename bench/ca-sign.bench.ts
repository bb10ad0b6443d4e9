/**
 * `node dist/bench/ca-sign.bench.js`: the CA library alone, in-process on one core, no HTTP or
 * Raft (bench/ca.bench.ts measures the whole path through a cluster).
 *
 * Cases, measured in interleaved 100 ms slices so background load hits them alike:
 *   raw-p256-sign      node:crypto ECDSA P-256 sign of a 400-byte message (rawSignRate's loop)
 *   leaf-sign-<ca>     LeafSigner.sign with a P-256, P-384 or RSA-2048 CA
 *   server-csr-to-pem  the leader's per-request crypto: parseCsrPem (signature check), the SAN
 *                      rules and SPIFFE parse, then LeafSigner.sign (P-256 CA)
 *   agent-key-csr      the agent's per-request crypto: generateLeafKey + createCsrPem
 * Prints one JSON line per case and a table. Environment: BENCH_SECONDS per case (default 3).
 */
import { execFileSync } from 'node:child_process'
import { createPrivateKey, randomBytes, sign } from 'node:crypto'
import { cpus } from 'node:os'
import {
  createCsrPem, createRootCert, generateLeafKey, generatePrivateKeyPem, LeafSigner, parseCsrPem, parseSpiffeId, serviceUri, singleUriOf,
  spkiDerOf, trustDomainFor, type KeySpec
} from '../src/ca/index.js'

const seconds = Number(process.env.BENCH_SECONDS ?? 3)
const sliceMs = 100
const clusterId = 'd2b5f1c0-8a4e-4b2f-9c61-0e7d3a5b9f42'
const uri = serviceUri(trustDomainFor(clusterId), 'dc1', 'web')

function commit (): string {
  try { return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() } catch { return 'unknown' }
}

function signerFor (spec: KeySpec): LeafSigner {
  const keyPem = generatePrivateKeyPem(spec)
  const certPem = createRootCert({ privateKeyPem: keyPem, clusterId, serial: 1, notBefore: new Date(Date.now() - 60_000), ttlMs: 87_600 * 3_600_000 })
  return new LeafSigner({ signingKeyPem: keyPem, signingCertPem: certPem })
}

function main (): void {
  const notBefore = new Date(Date.now() - 60_000)
  const notAfter = new Date(Date.now() + 72 * 3_600_000)
  const leafSpki = spkiDerOf(generateLeafKey().privateKey)
  const csrPem = createCsrPem({ privateKey: generateLeafKey().privateKey, uri })
  const rawKey = createPrivateKey(generatePrivateKeyPem({ type: 'ec', bits: 256 }))
  const rawMessage = randomBytes(400)
  const signers = { p256: signerFor({ type: 'ec', bits: 256 }), p384: signerFor({ type: 'ec', bits: 384 }), rsa2048: signerFor({ type: 'rsa', bits: 2048 }) }
  let serial = 1
  const cases: Record<string, () => void> = {
    'raw-p256-sign': () => { sign('sha256', rawMessage, rawKey) },
    'leaf-sign-p256': () => { signers.p256.sign({ publicKeySpki: leafSpki, uri, serial: serial++, notBefore, notAfter }) },
    'leaf-sign-p384': () => { signers.p384.sign({ publicKeySpki: leafSpki, uri, serial: serial++, notBefore, notAfter }) },
    'leaf-sign-rsa2048': () => { signers.rsa2048.sign({ publicKeySpki: leafSpki, uri, serial: serial++, notBefore, notAfter }) },
    'server-csr-to-pem': () => {
      const csr = parseCsrPem(csrPem)
      const csrUri = singleUriOf(csr)
      parseSpiffeId(csrUri)
      signers.p256.sign({ publicKeySpki: csr.publicKeySpki, uri: csrUri, serial: serial++, notBefore, notAfter })
    },
    'agent-key-csr': () => { createCsrPem({ privateKey: generateLeafKey().privateKey, uri }) }
  }
  const totals = new Map<string, { count: number, ms: number }>(Object.keys(cases).map(name => [name, { count: 0, ms: 0 }]))
  const rounds = Math.max(1, Math.round(seconds * 1000 / sliceMs))
  for (let round = 0; round < rounds; round += 1) {
    for (const [name, run] of Object.entries(cases)) {
      const total = totals.get(name)!
      const started = performance.now()
      let elapsedMs = 0
      while (elapsedMs < sliceMs) {
        for (let i = 0; i < 8; i += 1) run()
        total.count += 8
        elapsedMs = performance.now() - started
      }
      total.ms += elapsedMs
    }
  }
  const shared = { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', seconds, commit: commit() }
  const raw = totals.get('raw-p256-sign')!
  const rawPerSecond = raw.count / (raw.ms / 1000)
  const rows = [...totals].map(([name, { count, ms }]) => {
    const perSecond = count / (ms / 1000)
    return { bench: 'ca-sign', case: name, opsPerSecond: Math.round(perSecond), microsecondsPerOp: Number((1000 * ms / count).toFixed(1)), vsRawSign: Number((perSecond / rawPerSecond).toFixed(2)) }
  })
  for (const row of rows) console.log(JSON.stringify({ ...row, ...shared }))
  console.log('')
  console.log('case                    ops/s     us/op   vs raw sign')
  for (const row of rows) console.log(`${row.case.padEnd(20)} ${String(row.opsPerSecond).padStart(8)} ${String(row.microsecondsPerOp).padStart(9)} ${String(row.vsRawSign).padStart(13)}`)
}

main()
