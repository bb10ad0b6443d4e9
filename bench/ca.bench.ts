/**
 * `npm run bench:ca`: leaf certificates issued per second through the HTTP API on a 3-server
 * cluster, next to this machine's raw ECDSA P-256 sign rate measured in the same run.
 *
 * Each request is `GET /v1/agent/connect/ca/leaf/<service>` for a service no one asked for
 * before, so every request is a cache miss: the agent makes a P-256 key and a CSR, the leader
 * checks the CSR and signs (serials come from a block reserved through Raft, so a leaf costs no
 * log write). The CSR rate limit is off (`csr_max_per_second: 0`; Consul's default is 50/s).
 * Cases: 16 closed-loop clients against the leader's agent, then against a follower's agent
 * (the sign RPC is forwarded to the leader over ZeroMQ). Raw rates, in-process, one core:
 * node:crypto P-256 sign of a 32-byte digest input; LeafSigner.sign (the leader's whole signing
 * step); key + CSR generation (the agent's step).
 *
 * Prints progress on stderr, then one JSON line per row and a table on stdout.
 * Environment: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (1), BENCH_CONCURRENCY (16).
 */
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { createCsrPem, generateLeafKey, parseCsrPem } from '../src/ca/csr.js'
import { createRootCert } from '../src/ca/certs.js'
import { generatePrivateKeyPem } from '../src/ca/keys.js'
import { LeafSigner, rawSignRate } from '../src/ca/leaf-signer.js'
import { serviceUri } from '../src/ca/spiffe.js'
import { closedLoop, getJson, keepAliveAgent, percentile, send } from './support/http-load.js'
import { installCleanupHooks, makeTempDir, removeTempDir } from './support/procs.js'
import { WeftCluster } from './support/weft-cluster.js'
import type { Member } from './support/kv-cluster.js'

const env = process.env
const seconds = Number(env.BENCH_SECONDS ?? 10)
const warmupSeconds = Number(env.BENCH_WARMUP_SECONDS ?? 1)
const concurrency = Number(env.BENCH_CONCURRENCY ?? 16)
const root = fileURLToPath(new URL('../../', import.meta.url))

type Row = Record<string, unknown> & { case: string }

function log (message: string): void {
  process.stderr.write(`bench:ca: ${message}\n`)
}

function commit (): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

/** Operations per second of `op`, run for about `durationMs`. */
function rate (durationMs: number, op: () => void): number {
  for (let i = 0; i < 50; i += 1) op()
  let count = 0
  const started = performance.now()
  while (performance.now() - started < durationMs) {
    for (let i = 0; i < 20; i += 1) op()
    count += 20
  }
  return count / ((performance.now() - started) / 1000)
}

function inProcessRows (): Row[] {
  const clusterId = '11111111-2222-4333-8444-555555555555'
  const keyPem = generatePrivateKeyPem({ type: 'ec', bits: 256 })
  const rootPem = createRootCert({ privateKeyPem: keyPem, clusterId, serial: 1, notBefore: new Date(), ttlMs: 3_600_000 })
  const signer = new LeafSigner({ signingKeyPem: keyPem, signingCertPem: rootPem })
  const uri = serviceUri(`${clusterId}.consul`, 'dc1', 'web')
  const leafKey = generateLeafKey()
  const csr = parseCsrPem(createCsrPem({ privateKey: leafKey.privateKey, uri }))
  let serial = 1
  const raw = rawSignRate(2_000)
  const sign = rate(2_000, () => {
    serial += 1
    signer.sign({ publicKeySpki: csr.publicKeySpki, uri, serial, notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) })
  })
  const agentSide = rate(2_000, () => {
    const key = generateLeafKey()
    createCsrPem({ privateKey: key.privateKey, uri })
  })
  return [
    { case: 'raw P-256 sign (node:crypto, 1 core)', perSecond: Math.round(raw) },
    { case: 'LeafSigner.sign (leader step, 1 core)', perSecond: Math.round(sign), ratioToRaw: round(sign / raw) },
    { case: 'key + CSR (agent step, 1 core)', perSecond: Math.round(agentSide), ratioToRaw: round(agentSide / raw) }
  ]
}

function round (value: number): number {
  return Math.round(value * 100) / 100
}

async function leafCase (name: string, target: Member, raw: number, runTag: string): Promise<Row> {
  const agent = keepAliveAgent(concurrency)
  const failures: string[] = []
  try {
    const result = await closedLoop({
      clients: concurrency,
      warmupMs: warmupSeconds * 1000,
      measureMs: seconds * 1000,
      maxOpsPerClient: Number.MAX_SAFE_INTEGER,
      write: async (client, seq) => {
        const reply = await send(agent, target, { method: 'GET', path: `/v1/agent/connect/ca/leaf/${runTag}-${client}-${seq}`, headers: {}, body: '' }, 10_000)
        if (reply.status !== 200 && failures.length < 3) failures.push(`${reply.status} ${reply.error ?? reply.body.slice(0, 200)}`)
        return reply.status === 200
      }
    })
    const perSecond = result.latenciesMs.length / result.measuredSeconds
    if (failures.length > 0) log(`${name}: failures, e.g. ${failures.join(' | ')}`)
    return {
      case: name,
      clients: concurrency,
      perSecond: Math.round(perSecond),
      p50Ms: round(percentile(result.latenciesMs, 0.5)),
      p99Ms: round(percentile(result.latenciesMs, 0.99)),
      errors: result.errors,
      ratioToRaw: round(perSecond / raw)
    }
  } finally {
    agent.destroy()
  }
}

async function main (): Promise<void> {
  installCleanupHooks()
  log(`commit ${commit()}, ${cpus().length} cores, ${seconds}s per case, ${concurrency} clients`)
  log('measuring in-process rates')
  const rows = inProcessRows()
  const raw = Number(rows[0]!.perSecond)
  const dir = await makeTempDir('weft-bench-ca-')
  let cluster: WeftCluster | null = null
  try {
    log('starting 3 weft servers')
    cluster = await WeftCluster.start({ block: 64, dir, raftMultiplier: 1, extraConfig: { connect: { enabled: true, ca_config: { csr_max_per_second: 0 } } } })
    const started = performance.now()
    let leader: Member | undefined
    while (performance.now() - started < 60_000) {
      leader = await cluster.leader()
      if (leader !== undefined) {
        const roots = await getJson(leader, 'GET', '/v1/connect/ca/roots', undefined).catch(() => null) as { ActiveRootID?: string } | null
        if (roots?.ActiveRootID !== undefined && roots.ActiveRootID !== '') break
      }
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    if (leader === undefined) throw new Error('no leader with a CA within 60 s')
    const follower = cluster.members.find(m => m.name !== leader!.name)!
    log(`leader ${leader.name}; leaf requests against the leader's agent`)
    rows.push(await leafCase('HTTP leaf, leader agent (3 servers)', leader, raw, 'l'))
    log(`leaf requests against a follower's agent (${follower.name})`)
    rows.push(await leafCase('HTTP leaf, follower agent (3 servers)', follower, raw, 'f'))
  } finally {
    await cluster?.stop()
    await removeTempDir(dir)
  }
  for (const row of rows) process.stdout.write(JSON.stringify({ bench: 'ca', ...row }) + '\n')
  const header = ['case', 'clients', 'per second', 'p50 ms', 'p99 ms', 'errors', 'x raw sign']
  const lines = rows.map(r => [r.case, r.clients ?? '', r.perSecond, r.p50Ms ?? '', r.p99Ms ?? '', r.errors ?? '', r.ratioToRaw ?? ''].map(String))
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map(l => l[i]!.length)))
  for (const line of [header, ...lines]) process.stdout.write(line.map((cell, i) => cell.padEnd(widths[i]!)).join('  ') + '\n')
}

main().catch((err: Error) => {
  process.stderr.write(`bench:ca failed: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
