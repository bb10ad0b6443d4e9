/**
 * `npm run bench:kv`: three weft servers vs. a three-member etcd 3.4, on this machine, in the
 * same run, both with fsync on, each member on its own loopback address.
 *
 * 1. Throughput: PUTs of 256-byte values to unique keys over HTTP/1.1 keep-alive, sent to the
 *    leader of each system (weft `PUT /v1/kv/<key>`, etcd `POST /v3/kv/put` on its JSON
 *    gateway), by 1, 16 and 64 closed-loop clients for BENCH_SECONDS after a warm-up: writes/s,
 *    p50/p99/max latency, CPU of the leader, the followers, the load generator and everything
 *    else on the machine, server CPU per write, and weft/etcd. Only one system runs at a time
 *    (the other is frozen with SIGSTOP), and each case alternates between them in BENCH_SLICES
 *    slices, so that other load on the machine falls on both alike.
 * 2. Failover: under 8 writing clients, SIGKILL of the leader; the time from the kill to the
 *    first acknowledged write on a surviving member (clients that fail move on to the next member,
 *    and give up a write after a short timeout so a request parked on a dead leader does not hide
 *    the new one). Median of BENCH_FAILOVER_RUNS; the killed member is restarted and the cluster
 *    is healthy again (a leader, every member has applied a fresh write) before the next run.
 *
 * weft runs with `performance.raft_multiplier` = BENCH_WEFT_RAFT_MULTIPLIER (default 1, Consul's
 * production recommendation) from a -config-file; etcd with its default timers.
 *
 * Prints progress on stderr, then one JSON line per row and a table on stdout.
 * Environment: BENCH_SECONDS (10), BENCH_WARMUP_SECONDS (1), BENCH_SLICES (5), BENCH_CONCURRENCY ("1,16,64"),
 * BENCH_FAILOVER_RUNS (5), BENCH_FAILOVER_TIMEOUT_MS (250), BENCH_SYSTEMS ("weft,etcd"),
 * BENCH_WEFT_RAFT_MULTIPLIER (1), BENCH_PROFILE=1 (instead: run weft alone under the 64-client
 * load with `node --cpu-prof` on each server, print the leader's top self-time functions and
 * areas and each follower's, and keep the .cpuprofile files in the temp folder).
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { copyFile, readdir } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatSummary, summarizeProfile } from './support/cpu-profile.js'
import { EtcdCluster } from './support/etcd-cluster.js'
import { closedLoop, keepAliveAgent, median, percentile, send } from './support/http-load.js'
import { failoverRun } from './support/failover.js'
import { waitHealthy } from './support/health.js'
import { freezeMembers, type KvCluster, type Member, type SystemName } from './support/kv-cluster.js'
import { cpuSeconds, installCleanupHooks, machineBusySeconds, makeTempDir, removeTempDir } from './support/procs.js'
import { WeftCluster } from './support/weft-cluster.js'

const env = process.env
const seconds = Number(env.BENCH_SECONDS ?? 10)
const warmupSeconds = Number(env.BENCH_WARMUP_SECONDS ?? 1)
const slicesPerCase = Math.max(1, Number(env.BENCH_SLICES ?? 5))
const concurrencies = (env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number)
const failoverRuns = Number(env.BENCH_FAILOVER_RUNS ?? 5)
const failoverTimeoutMs = Number(env.BENCH_FAILOVER_TIMEOUT_MS ?? 250)
const failoverClients = 8
const systems = (env.BENCH_SYSTEMS ?? 'weft,etcd').split(',') as SystemName[]
const raftMultiplier = Number(env.BENCH_WEFT_RAFT_MULTIPLIER ?? 1)
const valueBytes = 256
const root = fileURLToPath(new URL('../../', import.meta.url))

type Row = Record<string, unknown> & { system: SystemName, case: string }

function log (message: string): void {
  process.stderr.write(`bench:kv: ${message}\n`)
}

function commit (): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${sha}-dirty` : sha
  } catch { return 'unknown' }
}

/** scripts/install-etcd.sh installs Debian's etcd-server when etcd is missing; its output goes to stderr. */
function ensureEtcd (): void {
  execFileSync('bash', [join(root, 'scripts/install-etcd.sh')], { stdio: ['ignore', 2, 2] })
}

function randomValue (bytes: number): string {
  return randomBytes(bytes).toString('base64url').slice(0, bytes)
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits))

function selfCpuSeconds (): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1e6
}

/** Pseudo-pids for sampleCpu: this process (the load generator) and the whole machine. */
const selfPid = 0
const machinePid = -2

async function readCpu (pids: ReadonlyMap<string, number>): Promise<Map<string, number>> {
  return new Map(await Promise.all([...pids].map(async ([name, pid]) => {
    const seconds = pid === selfPid ? selfCpuSeconds() : pid === machinePid ? await machineBusySeconds() : await cpuSeconds(pid)
    return [name, seconds] as const
  })))
}

interface CpuSample {
  /** % of one CPU used by each process over the measured window. */
  readonly pct: Map<string, number>
  /** The window on the monotonic clock (µs), which is also the clock of V8 CPU profiles. */
  readonly window: { readonly startUs: number, readonly endUs: number }
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n)

/** Reads CPU counters by timers at the start and the end of the measured window. */
async function sampleCpu (pids: ReadonlyMap<string, number>, startInMs: number, lengthMs: number): Promise<CpuSample> {
  await new Promise(resolve => setTimeout(resolve, startInMs))
  const startUs = monotonicUs()
  const before = await readCpu(pids)
  await new Promise(resolve => setTimeout(resolve, lengthMs))
  const endUs = monotonicUs()
  const after = await readCpu(pids)
  const pct = new Map([...after].map(([name, s]) => [name, round(100 * (s - (before.get(name) ?? NaN)) / ((endUs - startUs) / 1e6), 0)]))
  return { pct, window: { startUs, endUs } }
}

/**
 * CPU of the leader, the busiest follower, all three members, the load generator, and everything
 * else on the machine (other work that shares the CPUs: noise).
 */
function cpuColumns (cpuPct: ReadonlyMap<string, number>, cluster: KvCluster, leader: Member): Record<string, number> {
  const get = (name: string): number => cpuPct.get(name) ?? NaN
  const followers = cluster.members.filter(m => m !== leader).map(m => get(m.name))
  const servers = cluster.members.reduce((sum, m) => sum + get(m.name), 0)
  return {
    leaderCpuPct: get(leader.name),
    followerCpuPct: Math.max(...followers),
    serversCpuPct: servers,
    clientCpuPct: get('client'),
    otherCpuPct: Math.max(0, get('machine') - servers - get('client'))
  }
}

interface Slice {
  readonly latenciesMs: number[]
  readonly errors: number
  readonly measuredSeconds: number
  readonly cpu: Record<string, number>
  readonly leader: Member
  readonly window: CpuSample['window']
}

/** One measured slice of a case: closed-loop writes to the current leader, with CPU sampled over the window. */
async function measureSlice (cluster: KvCluster, clients: number, tag: string, warmupMs: number, measureMs: number): Promise<Slice> {
  const leader = await waitHealthy(cluster)
  const agent = keepAliveAgent(clients)
  const value = randomValue(valueBytes)
  const pids = new Map<string, number>([['client', selfPid], ['machine', machinePid], ...cluster.members.map(m => [m.name, m.proc?.pid ?? -1] as const)])
  const cpu = sampleCpu(pids, warmupMs, measureMs)
  try {
    const result = await closedLoop({
      clients, warmupMs, measureMs, maxOpsPerClient: 5_000_000,
      write: async (client, seq) => cluster.putSucceeded(await send(agent, leader, cluster.putRequest(`bench/c${clients}/${tag}/${client}/${seq}`, value), 10_000))
    })
    const { pct, window } = await cpu
    return { ...result, cpu: cpuColumns(pct, cluster, leader), leader, window }
  } finally {
    agent.destroy()
  }
}

function rowFromSlices (cluster: KvCluster, clients: number, slices: readonly Slice[]): Row {
  const latenciesMs = slices.flatMap(s => s.latenciesMs).sort((a, b) => a - b)
  const measuredSeconds = slices.reduce((sum, s) => sum + s.measuredSeconds, 0)
  const writesPerSecond = Math.round(latenciesMs.length / measuredSeconds)
  const meanCpu = (key: string): number => round(slices.reduce((sum, s) => sum + (s.cpu[key] ?? NaN), 0) / slices.length, 0)
  return {
    bench: 'kv', system: cluster.system, case: `put-${valueBytes}B-c${clients}`, clients,
    writes: latenciesMs.length, errors: slices.reduce((sum, s) => sum + s.errors, 0), writesPerSecond,
    p50Ms: round(percentile(latenciesMs, 0.5)), p99Ms: round(percentile(latenciesMs, 0.99)), maxMs: round(latenciesMs[latenciesMs.length - 1] ?? NaN),
    ratio: null, p99Ratio: null,
    leaderCpuPct: meanCpu('leaderCpuPct'), followerCpuPct: meanCpu('followerCpuPct'), clientCpuPct: meanCpu('clientCpuPct'), otherCpuPct: meanCpu('otherCpuPct'),
    serverCpuMsPerWrite: round(10 * meanCpu('serversCpuPct') / Math.max(1, writesPerSecond), 3),
    slices: slices.length, target: `leader (${[...new Set(slices.map(s => s.leader.name))].join(', ')})`
  }
}

async function failoverCase (cluster: KvCluster): Promise<Row> {
  const runsMs: Array<number | null> = []
  for (let run = 1; run <= failoverRuns; run += 1) {
    const ms = await failoverRun(cluster, { run, clients: failoverClients, timeoutMs: failoverTimeoutMs, log })
    log(`${cluster.system} failover run ${run}/${failoverRuns}: ${ms === null ? 'no write within 30 s' : `${Math.round(ms)} ms`}`)
    runsMs.push(ms === null ? null : round(ms, 0))
  }
  const measured = runsMs.filter((ms): ms is number => ms !== null)
  return {
    bench: 'kv', system: cluster.system, case: `failover-c${failoverClients}`, clients: failoverClients,
    failoverMs: measured.length === runsMs.length ? median(measured) : null, runsMs, ratio: null,
    clientTimeoutMs: `${failoverTimeoutMs}..${failoverTimeoutMs * 2}`
  }
}

async function startCluster (system: SystemName, dir: string, nodeArgs: readonly string[] = []): Promise<KvCluster> {
  if (system === 'weft') return await WeftCluster.start({ block: 201, dir, raftMultiplier, nodeArgs })
  ensureEtcd()
  return await EtcdCluster.start({ block: 202, dir })
}

interface Running { readonly cluster: KvCluster, readonly dir: string }

/** Freezes every other cluster (SIGSTOP) and resumes this one, so only the measured one runs. */
function focus (running: ReadonlyMap<SystemName, Running>, system: SystemName): KvCluster {
  for (const [name, r] of running) if (name !== system) freezeMembers(r.cluster.members, true)
  const { cluster } = running.get(system)!
  freezeMembers(cluster.members, false)
  return cluster
}

/**
 * Each case's BENCH_SECONDS is cut into BENCH_SLICES slices that alternate between the systems
 * (the other one frozen), so that load from anything else on the machine falls on both alike.
 * The first slice of each system warms up for BENCH_WARMUP_SECONDS, later ones for 0.3 s.
 */
async function throughputRows (running: ReadonlyMap<SystemName, Running>, clients: number): Promise<Row[]> {
  const slices = new Map<SystemName, Slice[]>([...running.keys()].map(system => [system, []]))
  const sliceMs = seconds * 1000 / slicesPerCase
  log(`${clients} clients: ${slicesPerCase} slices of ${sliceMs / 1000} s per system, alternating ${[...running.keys()].join('/')}...`)
  for (let slice = 0; slice < slicesPerCase; slice += 1) {
    for (const system of running.keys()) {
      const cluster = focus(running, system)
      const warmupMs = slice === 0 ? warmupSeconds * 1000 : 300
      slices.get(system)!.push(await measureSlice(cluster, clients, `s${slice}`, warmupMs, sliceMs))
    }
  }
  return [...running].map(([system, { cluster }]) => {
    const row: Row = { ...rowFromSlices(cluster, clients, slices.get(system)!), ...cluster.notes }
    log(`${system} c${clients}: ${String(row.writesPerSecond)} writes/s, p50 ${String(row.p50Ms)} ms, p99 ${String(row.p99Ms)} ms, max ${String(row.maxMs)} ms, errors ${String(row.errors)}, CPU% leader/follower/client/other ${cpuCell(row)}`)
    return row
  })
}

async function runRows (running: ReadonlyMap<SystemName, Running>): Promise<Row[]> {
  const rows: Row[] = []
  for (const clients of concurrencies) rows.push(...await throughputRows(running, clients))
  if (failoverRuns <= 0) return rows
  for (const system of running.keys()) {
    const cluster = focus(running, system)
    rows.push({ ...await failoverCase(cluster), ...cluster.notes })
  }
  return rows
}

/** Starts every system (each frozen while the next starts), runs the rows interleaved, stops all. */
async function benchAll (): Promise<Row[]> {
  const running = new Map<SystemName, Running>()
  try {
    for (const system of systems) {
      for (const r of running.values()) freezeMembers(r.cluster.members, true)
      const dir = await makeTempDir(`bench-kv-${system}-`)
      log(`starting 3 ${system} members (data under ${dir})`)
      running.set(system, { cluster: await startCluster(system, dir).catch(async (err: unknown) => { await removeTempDir(dir); throw err }), dir })
    }
    return await runRows(running)
  } finally {
    for (const [system, { cluster, dir }] of running) {
      log(`stopping ${system}`)
      freezeMembers(cluster.members, false)
      await cluster.stop()
      await removeTempDir(dir)
    }
  }
}

function addRatios (rows: Row[]): void {
  for (const row of rows) {
    const weft = rows.find(r => r.system === 'weft' && r.case === row.case)
    const etcd = rows.find(r => r.system === 'etcd' && r.case === row.case)
    if (weft === undefined || etcd === undefined) continue
    if (typeof weft.failoverMs === 'number' && typeof etcd.failoverMs === 'number') row.ratio = round(weft.failoverMs / etcd.failoverMs)
    if (typeof weft.writesPerSecond === 'number' && typeof etcd.writesPerSecond === 'number') {
      row.ratio = round(weft.writesPerSecond / etcd.writesPerSecond)
      row.p99Ratio = round(Number(weft.p99Ms) / Number(etcd.p99Ms))
    }
  }
}

function cpuCell (r: Readonly<Record<string, unknown>>): string {
  return `${String(r.leaderCpuPct)}/${String(r.followerCpuPct)}/${String(r.clientCpuPct)}/${String(r.otherCpuPct)}`
}

function printTable (rows: readonly Row[]): void {
  const cell = (v: unknown, width: number): string => String(v ?? '-').padStart(width)
  console.log('')
  console.log('system  case                clients  writes/s   p50 ms   p99 ms   max ms  errors  CPU% leader/follower/client/other  server CPU ms/write  weft/etcd writes/s  weft/etcd p99')
  for (const r of rows.filter(r => r.writesPerSecond !== undefined)) {
    console.log(`${r.system.padEnd(6)}  ${r.case.padEnd(18)} ${cell(r.clients, 8)} ${cell(r.writesPerSecond, 9)} ${cell(r.p50Ms, 8)} ${cell(r.p99Ms, 8)} ${cell(r.maxMs, 8)} ${cell(r.errors, 7)}  ${cpuCell(r).padStart(30)}  ${cell(r.serverCpuMsPerWrite, 19)}  ${cell(r.ratio, 18)}  ${cell(r.p99Ratio, 13)}`)
  }
  console.log('')
  console.log('system  case          median ms  runs (ms)                          timers                         weft/etcd')
  for (const r of rows.filter(r => r.failoverMs !== undefined)) {
    const timers = `${r.system === 'weft' ? `raft_multiplier=${String(r.raftMultiplier)}` : 'defaults'}, election ${String(r.electionTimeoutMs)} ms`
    console.log(`${r.system.padEnd(6)}  ${r.case.padEnd(12)} ${cell(r.failoverMs, 10)}  ${JSON.stringify(r.runsMs).padEnd(34)} ${timers.padEnd(30)} ${cell(r.ratio, 9)}`)
  }
}

async function profileWeftLeader (): Promise<void> {
  const clients = concurrencies[concurrencies.length - 1] ?? 64
  const dir = await makeTempDir('bench-kv-profile-')
  const profDir = join(dir, 'profiles')
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${profDir}`]
  log(`profiling: 3 weft servers run as node ${nodeArgs.join(' ')} (NODE_OPTIONS does not accept --cpu-prof), ${clients} clients for ${seconds} s`)
  const cluster = await startCluster('weft', dir, nodeArgs)
  const pids = new Map(cluster.members.map(m => [m.name, m.proc?.pid ?? -1]))
  let leaderName = ''
  let window: CpuSample['window'] | undefined
  try {
    const slice = await measureSlice(cluster, clients, 'profile', warmupSeconds * 1000, seconds * 1000)
    leaderName = slice.leader.name
    window = slice.window
    console.log(JSON.stringify({ ...rowFromSlices(cluster, clients, [slice]), ...cluster.notes, profiled: 'all three servers run with --cpu-prof', commit: commit() }))
  } finally {
    log('stopping weft (SIGTERM, so that each server writes its profile)')
    await cluster.stop()
  }
  const files = await readdir(profDir)
  for (const [name, pid] of pids) {
    const file = files.find(f => f.includes(`.${pid}.`))
    if (file === undefined) { log(`no CPU profile for ${name} (pid ${pid}) in ${profDir}`); continue }
    const role = name === leaderName ? 'leader' : 'follower'
    const kept = join(tmpdir(), `weft-kv-${role}-${name}-${pid}.cpuprofile`)
    await copyFile(join(profDir, file), kept)
    console.log(`\n=== weft ${name} (${role}), profile kept at ${kept} ===`)
    console.log(formatSummary(await summarizeProfile(kept, { limit: role === 'leader' ? 30 : 12, ...(window === undefined ? {} : { window }) })))
  }
  await removeTempDir(dir)
  console.log('\nopen a .cpuprofile in Chrome DevTools (Performance) or speedscope for the call tree')
}

async function main (): Promise<void> {
  installCleanupHooks()
  if (env.BENCH_PROFILE === '1') return await profileWeftLeader()
  const rows: Row[] = []
  rows.push(...await benchAll())
  addRatios(rows)
  const shared = { seconds, warmupSeconds, valueBytes, commit: commit(), cpus: cpus().length, node: process.version }
  for (const row of rows) console.log(JSON.stringify({ ...row, ...shared }))
  printTable(rows)
  console.log(`\nwrites go to each system's leader over HTTP/1.1 keep-alive; fsync on for both; weft runs with performance.raft_multiplier=${raftMultiplier} (-config-file), etcd with its defaults; ${cpus().length} CPUs shared by all processes and the load generator`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:kv failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
