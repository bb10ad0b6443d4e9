/**
 * `npm run bench:proxy` (issue #6): the same TCP workloads over three paths, in one run on this
 * machine:
 *   direct   client → sink
 *   stunnel  client → stunnel (client mode) ─mTLS→ stunnel (server mode) → sink
 *   weft     client → weft connect proxy -upstream ─mTLS→ weft connect proxy -listen → sink
 * Both mTLS hops use the same P-256 leaves from a weft -dev agent's CA, TLS 1.3, client
 * certificates required and verified against the CA, TCP_NODELAY, session resumption left on
 * (stunnel's client reuses its session; weft's upstream keeps one per endpoint).
 *
 * Workloads:
 *   bulk      one connection sends BENCH_BULK_MIB (1024) MiB; the sink answers when it has all
 *             of it: MiB/s over the whole transfer.
 *   connect   closed-loop clients (1 and 32): connect, send a 64-byte request, read the 64-byte
 *             reply, close; connections/s and p50/p99 latency of one such exchange.
 * Per row also the CPU seconds each process used (from /proc), which says what limits a path.
 *
 * Prints progress on stderr, then a table, the weft/stunnel and weft/direct ratios, and one JSON
 * line per row on stdout. Installs stunnel4 via scripts/install-stunnel.sh when missing.
 * Environment: BENCH_SECONDS (5, per connect case), BENCH_BULK_MIB (1024), BENCH_PROFILE=1
 * (CPU-profile the weft proxies and print where their time goes).
 * Addresses: a -dev agent on 127.0.68.1 (issue #6's block, shared with the proxy e2e tests; do not run
 * them at the same time); everything else on 127.0.0.1 with ports the OS picks.
 */
import { execFileSync } from 'node:child_process'
import { readdir, writeFile } from 'node:fs/promises'
import { connect as netConnect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatSummary, summarizeProfile } from './support/cpu-profile.js'
import { percentile } from './support/http-load.js'
import { cpuSeconds, installCleanupHooks, killGroup, makeTempDir, removeTempDir, spawnGroup, terminateGroup, withDeadline, type Proc } from './support/procs.js'

const env = process.env
const seconds = Number(env.BENCH_SECONDS ?? 5)
const bulkMiB = Number(env.BENCH_BULK_MIB ?? 1024)
const profile = env.BENCH_PROFILE === '1'
const root = fileURLToPath(new URL('../../', import.meta.url))
const weft = join(root, 'dist/cmd/weft.js')
const self = fileURLToPath(import.meta.url)
const agentIp = '127.0.68.1'
const agentHttp = `http://${agentIp}:8500`
const requestBytes = 64
const replyBytes = 64

type Path = 'direct' | 'stunnel' | 'weft'
type Row = Record<string, unknown> & { case: string, path: Path }

function log (message: string): void {
  process.stderr.write(`bench:proxy: ${message}\n`)
}

// ---------------------------------------------------------------------------------------------
// The sink (a child process): 'B' + 8-byte length → reads that many bytes, answers "done\n";
// 'R' → reads a 64-byte request (after the 'R'), answers 64 bytes and ends.

function runSink (port: number): void {
  const reply = Buffer.alloc(replyBytes, 0x72)
  const server = createServer({ noDelay: true }, socket => {
    socket.on('error', () => {})
    let mode: 'unknown' | 'bulk' | 'request' = 'unknown'
    let header = Buffer.alloc(0)
    let remaining = 0
    socket.on('data', (chunk: Buffer) => {
      let data = chunk
      if (mode === 'unknown') {
        header = Buffer.concat([header, data])
        if (header[0] === 0x42 && header.length >= 9) {
          mode = 'bulk'
          remaining = Number(header.readBigUInt64BE(1))
          data = header.subarray(9)
        } else if (header[0] === 0x52) {
          mode = 'request'
          remaining = requestBytes
          data = header.subarray(1)
        } else {
          return
        }
      }
      remaining -= data.length
      if (remaining > 0) return
      if (mode === 'bulk') socket.write('done\n')
      else socket.end(reply)
    })
  })
  server.listen(port, '127.0.0.1', () => process.stdout.write(`sink ready ${port}\n`))
}

// ---------------------------------------------------------------------------------------------
// Clients

async function connectTo (port: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, noDelay: true }, () => { socket.off('error', reject); resolve(socket) })
    socket.once('error', reject)
  })
}

async function bulk (port: number, byteCount: number): Promise<{ seconds: number }> {
  const socket = await connectTo(port)
  const started = process.hrtime.bigint()
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => { if (chunk.includes('done\n')) resolve() })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('bulk connection closed before the sink answered')))
  })
  const header = Buffer.alloc(9)
  header[0] = 0x42
  header.writeBigUInt64BE(BigInt(byteCount), 1)
  socket.write(header)
  const block = Buffer.alloc(256 * 1024, 0x61)
  let sent = 0
  while (sent < byteCount) {
    const piece = sent + block.length <= byteCount ? block : block.subarray(0, byteCount - sent)
    sent += piece.length
    if (!socket.write(piece)) await new Promise<void>(resolve => socket.once('drain', resolve))
  }
  await withDeadline(done, 600_000, 'the sink to receive the bulk transfer')
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  socket.destroy()
  return { seconds: elapsed }
}

async function exchange (port: number): Promise<void> {
  const socket = await connectTo(port)
  await new Promise<void>((resolve, reject) => {
    let received = 0
    socket.on('data', (chunk: Buffer) => { received += chunk.length })
    socket.once('error', reject)
    socket.once('close', () => received >= replyBytes ? resolve() : reject(new Error(`connection closed after ${received} of ${replyBytes} reply bytes`)))
    const request = Buffer.alloc(1 + requestBytes, 0x71)
    request[0] = 0x52
    socket.write(request)
  })
}

async function connectLoad (port: number, concurrency: number, durationS: number): Promise<{ count: number, errors: number, latenciesMs: number[], seconds: number }> {
  const latenciesMs: number[] = []
  let errors = 0
  let firstError = ''
  const started = performance.now()
  const deadline = started + durationS * 1000
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      try {
        await exchange(port)
        latenciesMs.push(performance.now() - t0)
      } catch (err) {
        errors += 1
        if (firstError === '') firstError = (err as Error).message
        if (errors > 1000) throw new Error(`too many failed exchanges (${errors}); first: ${firstError}`)
      }
    }
  }))
  if (errors > 0) log(`  ${errors} failed exchanges; first: ${firstError}`)
  return { count: latenciesMs.length, errors, latenciesMs: latenciesMs.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000 }
}

// ---------------------------------------------------------------------------------------------
// Setup

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}

async function getJson (path: string, init: { method?: string, body?: string } = {}): Promise<unknown> {
  const response = await fetch(`${agentHttp}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`)
  return await response.json()
}

function stunnelBinary (): string {
  for (const name of ['stunnel4', 'stunnel']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
    } catch { /* next */ }
  }
  log('stunnel not found; running scripts/install-stunnel.sh')
  execFileSync('bash', [join(root, 'scripts/install-stunnel.sh')], { stdio: 'inherit' })
  return stunnelBinary()
}

interface Setup {
  readonly ports: Record<Path, number>
  readonly procs: Record<string, Proc>
  readonly dir: string
}

async function setUp (): Promise<Setup> {
  const dir = await makeTempDir('weft-bench-proxy-')
  const stunnel = stunnelBinary()
  const procs: Record<string, Proc> = {}
  const sinkPort = await freePort()
  procs.sink = spawnGroup('sink', process.execPath, [self, '--role=sink', String(sinkPort)], { readyLine: line => line.startsWith('sink ready') })
  procs.agent = spawnGroup('agent', process.execPath, [weft, 'agent', '-dev', `-bind=${agentIp}`, `-client=${agentIp}`, '-log-level=warn'], { readyLine: line => line.includes('agent ready') || line.includes('weft agent running') })
  await withDeadline(Promise.all([procs.sink.ready, procs.agent.ready]), 60_000, 'the sink and the -dev agent')
  const roots = await waitForValue(async () => {
    const value = await getJson('/v1/agent/connect/ca/roots') as { Roots: Array<{ RootCert: string }> }
    return value.Roots.length > 0 ? value : undefined
  }, 30_000, 'the dev CA')
  const caFile = join(dir, 'ca.pem')
  await writeFile(caFile, roots.Roots.map(r => r.RootCert).join(''))
  for (const service of ['web', 'sink']) {
    const leaf = await getJson(`/v1/agent/connect/ca/leaf/${service}`) as { CertPEM: string, PrivateKeyPEM: string }
    await writeFile(join(dir, `${service}.pem`), leaf.CertPEM + leaf.PrivateKeyPEM, { mode: 0o600 })
  }

  // stunnel pair.
  const [stunnelServerPort, stunnelClientPort] = [await freePort(), await freePort()]
  const common = ['foreground = yes', 'pid =', 'sslVersionMin = TLSv1.3', 'socket = l:TCP_NODELAY=1', 'socket = r:TCP_NODELAY=1', 'curves = X25519:prime256v1']
  await writeFile(join(dir, 'stunnel-server.conf'), [...common, '[sink]', `accept = 127.0.0.1:${stunnelServerPort}`, `connect = 127.0.0.1:${sinkPort}`,
    `cert = ${join(dir, 'sink.pem')}`, `CAfile = ${caFile}`, 'verifyChain = yes', 'requireCert = yes', ''].join('\n'))
  await writeFile(join(dir, 'stunnel-client.conf'), [...common, '[web]', 'client = yes', `accept = 127.0.0.1:${stunnelClientPort}`, `connect = 127.0.0.1:${stunnelServerPort}`,
    `cert = ${join(dir, 'web.pem')}`, `CAfile = ${caFile}`, 'verifyChain = yes', ''].join('\n'))
  procs.stunnelServer = spawnGroup('stunnel server', stunnel, [join(dir, 'stunnel-server.conf')], { readyLine: line => line.includes('Configuration successful') })
  procs.stunnelClient = spawnGroup('stunnel client', stunnel, [join(dir, 'stunnel-client.conf')], { readyLine: line => line.includes('Configuration successful') })

  // weft pair, registered as the tutorial does with catalog entries.
  const [weftPublicPort, weftUpstreamPort] = [await freePort(), await freePort()]
  const nodeFlags = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'profiles')}`] : []
  procs.weftServer = spawnGroup('weft sink proxy', process.execPath, [...nodeFlags, weft, 'connect', 'proxy', '-http-addr', agentHttp, '-service', 'sink',
    '-service-addr', `127.0.0.1:${sinkPort}`, '-listen', `127.0.0.1:${weftPublicPort}`], { readyLine: line => line.includes('"event":"ready"') })
  await getJson('/v1/catalog/register', {
    method: 'PUT',
    body: JSON.stringify({ Node: 'bench-host', Address: '127.0.0.1', Service: { ID: 'sink-proxy', Service: 'sink-proxy', Kind: 'connect-proxy', Port: weftPublicPort, Proxy: { DestinationServiceName: 'sink' } } })
  })
  procs.weftClient = spawnGroup('weft web proxy', process.execPath, [...nodeFlags, weft, 'connect', 'proxy', '-http-addr', agentHttp, '-service', 'web',
    '-upstream', `sink:${weftUpstreamPort}`], { readyLine: line => line.includes('"event":"ready"') })
  await withDeadline(Promise.all([procs.stunnelServer.ready, procs.stunnelClient.ready, procs.weftServer.ready, procs.weftClient.ready]), 60_000, 'stunnel and weft proxies')
  return { ports: { direct: sinkPort, stunnel: stunnelClientPort, weft: weftUpstreamPort }, procs, dir }
}

async function waitForValue<T> (check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/** CPU seconds used by the named processes while `run` ran. */
async function withCpu<T> (procs: Record<string, Proc>, names: readonly string[], run: () => Promise<T>): Promise<{ result: T, cpu: Record<string, number> }> {
  const before = await Promise.all(names.map(async name => await cpuSeconds(procs[name]!.pid)))
  const selfBefore = process.cpuUsage()
  const result = await run()
  const after = await Promise.all(names.map(async name => await cpuSeconds(procs[name]!.pid)))
  const selfAfter = process.cpuUsage(selfBefore)
  const cpu: Record<string, number> = { client: round((selfAfter.user + selfAfter.system) / 1e6) }
  names.forEach((name, i) => { cpu[name] = round((after[i] ?? NaN) - (before[i] ?? NaN)) })
  return { result, cpu }
}

const cpuNames: Record<Path, readonly string[]> = {
  direct: ['sink'],
  stunnel: ['sink', 'stunnelClient', 'stunnelServer'],
  weft: ['sink', 'weftClient', 'weftServer', 'agent']
}

function round (value: number, digits = 2): number {
  const scale = 10 ** digits
  return Math.round(value * scale) / scale
}

// ---------------------------------------------------------------------------------------------
// Main

async function main (): Promise<void> {
  installCleanupHooks()
  log(`setting up (bulk ${bulkMiB} MiB, ${seconds} s per connect case${profile ? ', profiling the weft proxies' : ''})`)
  const setup = await setUp()
  const rows: Row[] = []
  const paths: Path[] = ['direct', 'stunnel', 'weft']
  try {
    for (const path of paths) {
      // Warm up: one exchange (and so a session to resume) per path.
      await exchange(setup.ports[path])
    }
    for (const path of paths) {
      log(`bulk ${bulkMiB} MiB via ${path}`)
      const { result, cpu } = await withCpu(setup.procs, cpuNames[path], async () => await bulk(setup.ports[path], bulkMiB * 1024 * 1024))
      rows.push({ case: 'bulk', path, concurrency: 1, mibPerSecond: round(bulkMiB / result.seconds, 1), seconds: round(result.seconds), cpuSeconds: cpu })
    }
    for (const concurrency of [1, 32]) {
      for (const path of paths) {
        log(`connect+request/reply via ${path}, ${concurrency} client(s), ${seconds} s`)
        const { result, cpu } = await withCpu(setup.procs, cpuNames[path], async () => await connectLoad(setup.ports[path], concurrency, seconds))
        rows.push({
          case: 'connect',
          path,
          concurrency,
          connectionsPerSecond: round(result.count / result.seconds, 0),
          p50Ms: round(percentile(result.latenciesMs, 0.5), 3),
          p99Ms: round(percentile(result.latenciesMs, 0.99), 3),
          errors: result.errors,
          cpuSeconds: cpu
        })
      }
    }
  } finally {
    for (const proc of [setup.procs.weftClient, setup.procs.weftServer]) if (proc !== undefined) await terminateGroup(proc, 10_000)
    for (const proc of Object.values(setup.procs)) await killGroup(proc)
  }
  report(rows)
  if (profile) await reportProfiles(join(setup.dir, 'profiles'))
  await removeTempDir(setup.dir)
}

function report (rows: readonly Row[]): void {
  const metric = (row: Row): number => Number(row.case === 'bulk' ? row.mibPerSecond : row.connectionsPerSecond)
  const find = (kind: string, concurrency: number, path: Path): Row | undefined => rows.find(row => row.case === kind && row.concurrency === concurrency && row.path === path)
  const lines = ['case               path      result           p50 ms   p99 ms   weft/stunnel  weft/direct  cpu s (per process)']
  for (const row of rows) {
    const label = row.case === 'bulk' ? `bulk ${bulkMiB} MiB` : `connect c=${String(row.concurrency)}`
    const value = row.case === 'bulk' ? `${String(row.mibPerSecond)} MiB/s` : `${String(row.connectionsPerSecond)} conn/s`
    const weftRow = find(row.case, Number(row.concurrency), 'weft')
    const stunnelRow = find(row.case, Number(row.concurrency), 'stunnel')
    const directRow = find(row.case, Number(row.concurrency), 'direct')
    const ratios = row.path === 'weft' && weftRow !== undefined && stunnelRow !== undefined && directRow !== undefined
      ? [round(metric(weftRow) / metric(stunnelRow)).toFixed(2), round(metric(weftRow) / metric(directRow)).toFixed(2)]
      : ['', '']
    lines.push([
      label.padEnd(18), row.path.padEnd(9), value.padEnd(16),
      String(row.p50Ms ?? '').padStart(7), String(row.p99Ms ?? '').padStart(8),
      ratios[0]!.padStart(13), ratios[1]!.padStart(12), '  ' + JSON.stringify(row.cpuSeconds)
    ].join(' '))
  }
  process.stdout.write(lines.join('\n') + '\n\n')
  for (const row of rows) {
    const weftRow = find(row.case, Number(row.concurrency), 'weft')
    const extra = row.path === 'weft' && weftRow !== undefined
      ? { weftOverStunnel: round(metric(weftRow) / metric(find(row.case, Number(row.concurrency), 'stunnel')!)), weftOverDirect: round(metric(weftRow) / metric(find(row.case, Number(row.concurrency), 'direct')!)) }
      : {}
    process.stdout.write(JSON.stringify({ bench: 'proxy', ...row, ...extra }) + '\n')
  }
}

async function reportProfiles (dir: string): Promise<void> {
  let files: string[]
  try {
    files = (await readdir(dir)).filter(name => name.endsWith('.cpuprofile'))
  } catch {
    log('no CPU profiles were written')
    return
  }
  for (const file of files) {
    process.stdout.write(`\n== ${file} ==\n${formatSummary(await summarizeProfile(join(dir, file), { limit: 20 }))}\n`)
  }
}

const roleArg = process.argv.find(arg => arg.startsWith('--role='))
if (roleArg === '--role=sink') {
  runSink(Number(process.argv[process.argv.indexOf(roleArg) + 1]))
} else {
  main().catch(err => {
    process.stderr.write(`bench:proxy failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  })
}
