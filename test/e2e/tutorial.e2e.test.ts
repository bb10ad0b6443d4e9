/**
 * The seed tutorial (shared/seeds/001 and 002) typed with `weft` for `consul`, against the
 * three-server cluster of `scripts/cluster.sh` (issue #6), as a user of `npm start` would run it:
 *   1. an echo service (`socat -v tcp-l:PORT,fork exec:/bin/cat`, or a Node echo server);
 *   2. seed 002's definition `{"service": {"name": "socat", "port": PORT, "connect":
 *      {"sidecar_service": {}}}}` in c1's own config dir (`config/c1/`: the servers read
 *      `config/common/` too, so a definition there would register socat on all four agents),
 *      then `weft reload`;
 *   3. `weft connect proxy -sidecar-for socat` and `weft connect proxy -service web -upstream
 *      socat:9191` (another free port when 9191 is taken): a line sent to the upstream comes back;
 *   4. `weft intention create -deny web socat` prints `Created: web => socat (deny)`, an open
 *      connection is closed within 1 s, a new one is closed without data; `weft intention delete
 *      web socat` and it works again;
 *   5. seed 001's managed form, `"connect": {"proxy": {}}`: after `weft reload` the agent runs the
 *      proxy itself and the upstream works; removing the definition and reloading stops it.
 * The CLI reaches c1 through CONSUL_HTTP_ADDR, as a user does when the cluster is not on 127.0.0.x.
 *
 * One departure from a user's defaults: c1's config dir also sets the sidecar and managed-proxy
 * port ranges (21750.., 20750..). Public listeners bind 0.0.0.0, so the default first ports
 * (21000, 20000) collide with any other cluster, test or benchmark on this machine that runs one.
 * Addresses: cluster.sh with WEFT_CLUSTER_NET=127.0.75 (block 75).
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { waitFor } from '../../src/util/wait-for.js'
import { freePort, type Spawned } from './harness.js'
import { http, runWeft, type CliResult } from './http-client.js'
import { echoOnce, LineClient, logLines, startEcho, startProxy, type EchoService } from './proxy-harness.js'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../../scripts/cluster.sh', import.meta.url))
const net = '127.0.75'
const client = `http://${net}.1:8500`
const servers = [11, 12, 13].map(host => `http://${net}.${host}:8500`)
/** The promise: an open connection is closed within 1 s of a denying intention. */
const closeLatencyMsMax = 1_000
/** A fresh sidecar's checks pass on their first run; the web proxy then sees the endpoint. */
const meshReadyMsMax = 30_000

type Proxy = Spawned & { stop (): Promise<void> }

/** 9191 as in the tutorial when nothing listens there, else a port the OS picks. */
async function upstreamPort (): Promise<number> {
  const isFree = await new Promise<boolean>(resolve => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(9191, '127.0.0.1', () => server.close(() => resolve(true)))
  })
  return isFree ? 9191 : await freePort()
}

/** Ctrl-C, as a user stops a foreground `weft connect proxy`; SIGKILL if it has not exited in 5 s. */
async function interrupt (proxy: Proxy): Promise<NodeJS.Signals | number | null> {
  const child = proxy.child
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode
  const exited = new Promise<NodeJS.Signals | number | null>(resolve => child.once('exit', (code, signal) => resolve(code ?? signal)))
  child.kill('SIGINT')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  const outcome = await exited
  clearTimeout(timer)
  return outcome
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The JSON lines of c1's log (written by cluster.sh) with msg === `message`. */
async function agentLogLines (dir: string, message: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(dir, 'logs', 'c1.log'), 'utf8')
  return text.split('\n').flatMap(line => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>
      return parsed.msg === message ? [parsed] : []
    } catch {
      return []
    }
  })
}

/** Polls the upstream until a line comes back; returns how long that took. */
async function waitForEcho (port: number, line: string, what: string): Promise<number> {
  const startedMs = Date.now()
  await waitFor(async () => (await echoOnce(port, line, 3_000)).kind === 'echoed', { timeoutMs: meshReadyMsMax, intervalMs: 100, what })
  return Date.now() - startedMs
}

test('the seed tutorial on scripts/cluster.sh: sidecar_service, weft connect proxy, intentions, the managed connect.proxy form', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-tutorial-'))
  const env = { ...process.env, WEFT_CLUSTER_DIR: dir, WEFT_CLUSTER_NET: net }
  const cliEnv = { ...process.env, CONSUL_HTTP_ADDR: client }
  const weftCli = async (...args: string[]): Promise<CliResult> => await runWeft(args, { env: cliEnv })
  const proxies: Proxy[] = []
  let echo: EchoService | null = null
  t.after(async () => {
    for (const proxy of proxies) await proxy.stop().catch(() => {})
    await run('bash', [script, 'stop'], { env, timeout: 120_000 }).catch(() => {})
    await echo?.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const c1Config = join(dir, 'config', 'c1')
  await mkdir(c1Config, { recursive: true })
  await writeFile(join(c1Config, 'ports.json'), JSON.stringify({
    ports: { sidecar_min_port: 21750, sidecar_max_port: 21759, proxy_min_port: 20750, proxy_max_port: 20759 }
  }))
  const clusterStartedMs = Date.now()
  await run('bash', [script, 'start'], { env, timeout: 120_000 })
  t.diagnostic(`cluster.sh start: ${Date.now() - clusterStartedMs} ms`)

  try {
    echo = await startEcho()
    t.diagnostic(`echo service: ${echo.kind} on 127.0.0.1:${echo.port}`)
    const socatFile = join(c1Config, 'socat.json')
    await writeFile(socatFile, JSON.stringify({ service: { name: 'socat', port: echo.port, connect: { sidecar_service: {} } } }))
    const reloaded = await weftCli('reload')
    assert.deepEqual([reloaded.code, reloaded.stdout, reloaded.stderr], [0, 'Configuration reload triggered\n', ''])
    await t.test('the definition registers socat and its sidecar on c1 only', async () => await checkOnlyOnClient())

    const sidecar = await startProxy(client, ['-sidecar-for', 'socat'], 'socat sidecar')
    proxies.push(sidecar)
    assert.match(sidecar.logs(), /Configuration mode: Agent API\n\s+Sidecar for ID: socat\n\s+Proxy ID: socat-sidecar-proxy\n/)
    const webUpstream = await upstreamPort()
    const web = await startProxy(client, ['-service', 'web', '-upstream', `socat:${webUpstream}`], 'web proxy')
    proxies.push(web)
    assert.match(web.logs(), /Service: web\n\s+Upstream: socat => :\d+\n\s+Public listener: Disabled\n/)
    const firstEchoMs = await waitForEcho(webUpstream, 'hello', 'a line back through web\'s upstream and socat\'s sidecar')
    t.diagnostic(`first echo through the sidecars ${firstEchoMs} ms after both proxies were ready`)

    await t.test('intentions: deny closes the open connection within 1 s and refuses new ones; delete allows again', async (st) => {
      await checkIntentions(st, { webUpstream, sidecar })
    })

    await t.test('the managed form: reload with connect.proxy starts the proxy in the agent; removing the definition stops it', async (st) => {
      // The user stops the sidecar they started by hand; the managed form replaces it.
      await interrupt(sidecar)
      await writeFile(socatFile, JSON.stringify({ service: { name: 'socat', port: echo!.port, connect: { proxy: {} } } }))
      const switched = await weftCli('reload')
      assert.equal(switched.code, 0, switched.stderr)
      const services = (await http(client, 'GET', '/v1/agent/services')).json as Record<string, { Kind?: string, Port: number }>
      assert.deepEqual(Object.keys(services).sort(), ['socat', 'socat-proxy'])
      assert.equal(services['socat-proxy']?.Kind, 'connect-proxy')
      const managed = await waitFor(async () => (await agentLogLines(dir, 'managed proxy started')).find(line => line.proxy === 'socat-proxy'),
        { timeoutMs: 10_000, what: 'c1 to start the managed proxy' })
      const pid = Number(managed.pid)
      assert.ok(isAlive(pid), `managed proxy pid ${pid} is running`)
      const echoMs = await waitForEcho(webUpstream, 'through the managed proxy', 'a line back through the managed socat-proxy')
      st.diagnostic(`managed proxy pid ${pid} on port ${services['socat-proxy']?.Port}; first echo ${echoMs} ms after the reload`)

      await unlink(socatFile)
      const removed = await weftCli('reload')
      assert.equal(removed.code, 0, removed.stderr)
      await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, what: `managed proxy pid ${pid} to exit` })
      assert.ok((await agentLogLines(dir, 'managed proxy stopped')).some(line => line.proxy === 'socat-proxy'))
      assert.deepEqual((await http(client, 'GET', '/v1/agent/services')).json, {})
      const refused = await waitFor(async () => { const r = await echoOnce(webUpstream, 'nobody home'); return r.kind === 'closed' ? r : undefined },
        { timeoutMs: 10_000, what: 'the upstream to refuse once socat is gone' })
      assert.equal(refused.data, '')
    })
  } catch (err) {
    for (const proxy of proxies) t.diagnostic(proxy.logs().split('\n').slice(-30).join('\n'))
    const c1Log = await readFile(join(dir, 'logs', 'c1.log'), 'utf8').catch(() => '')
    t.diagnostic(c1Log.split('\n').filter(line => /"level":(40|50|60)|managed proxy|reload/.test(line)).slice(-40).join('\n'))
    throw err
  }
})

/** socat and socat-sidecar-proxy are in the catalog once, on c1, seen from every server. */
async function checkOnlyOnClient (): Promise<void> {
  for (const server of servers) {
    for (const name of ['socat', 'socat-sidecar-proxy']) {
      const entries = await waitFor(async () => {
        const answer = await http(server, 'GET', `/v1/catalog/service/${name}`)
        const list = answer.json as Array<{ Node: string, ServicePort: number }>
        return list.length > 0 ? list : undefined
      }, { timeoutMs: 20_000, what: `${name} in the catalog of ${server}` })
      assert.deepEqual(entries.map(entry => entry.Node), ['c1'], `${name} at ${server}`)
    }
  }
  const sidecar = (await http(client, 'GET', '/v1/agent/service/socat-sidecar-proxy')).json as { Port: number, Proxy: { LocalServicePort: number } }
  assert.ok(sidecar.Port >= 21750 && sidecar.Port <= 21759, `sidecar port ${sidecar.Port} from c1's sidecar range`)
}

async function checkIntentions (t: TestContext, o: { webUpstream: number, sidecar: Proxy }): Promise<void> {
  const cliEnv = { ...process.env, CONSUL_HTTP_ADDR: client }
  const open = await LineClient.open(o.webUpstream)
  assert.deepEqual(await open.echo('open 1', 5_000), { kind: 'echoed', text: 'open 1' })

  const created = await runWeft(['intention', 'create', '-deny', 'web', 'socat'], { env: cliEnv })
  const createdAtMs = Date.now()
  assert.deepEqual([created.code, created.stdout, created.stderr], [0, 'Created: web => socat (deny)\n', ''])
  const closedAtMs = await Promise.race([open.closed, new Promise<number>(resolve => setTimeout(() => resolve(-1), 5_000))])
  assert.notEqual(closedAtMs, -1, 'the open connection was not closed within 5 s')
  const latencyMs = closedAtMs - createdAtMs
  t.diagnostic(`open connection closed ${latencyMs} ms after the CLI returned (negative: before it had exited)`)
  assert.ok(latencyMs <= closeLatencyMsMax, `closed ${latencyMs} ms after the deny`)
  const refused = await echoOnce(o.webUpstream, 'denied?')
  assert.deepEqual(refused, { kind: 'closed', data: '' }, 'a new connection is closed without data')
  assert.ok(logLines(o.sidecar, 'connection denied').some(line => line.source === 'web'), 'the sidecar logs the denial with its source')

  const deleted = await runWeft(['intention', 'delete', 'web', 'socat'], { env: cliEnv })
  assert.deepEqual([deleted.code, deleted.stdout], [0, 'Intention deleted.\n'], deleted.stderr)
  const allowedMs = await waitForEcho(o.webUpstream, 'allowed again', 'an echo after the delete')
  t.diagnostic(`echo again ${allowedMs} ms after the delete`)
}
