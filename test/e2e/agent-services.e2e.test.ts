/**
 * Agent services end to end on real processes (127.0.66.x): three servers and a client agent
 * whose -config-dir holds service definitions, the seed tutorial's sidecar_service among them.
 *   1. the services and their sidecars reach /v1/catalog/service/<name>, /v1/health/service/<name>
 *      and /v1/health/connect/<name> on every server, with Consul's sidecar defaults;
 *   2. a manual PUT /v1/catalog/deregister of the service is repaired by anti-entropy (the
 *      client's config sets anti_entropy_interval to 1s, so the periodic full sync runs often);
 *   3. `weft reload` after editing the directory adds and removes services, leaves the unchanged
 *      one untouched (same catalog ModifyIndex), and a bad file is refused naming file and key.
 * And the 1.2 tutorial's managed proxies (connect.proxy) on a -dev agent (127.0.66.21): the agent
 * runs the real `weft connect proxy` for each service, a line sent to web's upstream comes back
 * from the echo service through both proxies, and a reload that removes socat stops its proxy.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../src/util/wait-for.js'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { spawnReady } from './harness.js'
import { http, runWeft, withLogs } from './http-client.js'

const block = 66
const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))
const syncDeadlineMs = 20_000

interface CatalogEntry {
  readonly Node: string
  readonly ServiceID: string
  readonly ServicePort: number
  readonly ServiceKind: string
  readonly ServiceProxy: Record<string, unknown>
  readonly ModifyIndex: number
}

interface HealthEntry {
  readonly Node: { Node: string }
  readonly Service: { ID: string }
  readonly Checks: Array<{ CheckID: string, Name: string }>
}

async function catalogService (agent: AgentProcess, name: string): Promise<CatalogEntry[]> {
  const answer = await http(agent, 'GET', `/v1/catalog/service/${name}`)
  assert.equal(answer.status, 200, answer.text)
  return answer.json as CatalogEntry[]
}

async function healthService (agent: AgentProcess, path: string): Promise<HealthEntry[]> {
  const answer = await http(agent, 'GET', path)
  assert.equal(answer.status, 200, answer.text)
  return answer.json as HealthEntry[]
}

test('agent services: config-dir definitions with sidecars reach the catalog, anti-entropy repairs it, reload adds and removes', { timeout: 240_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block, servers: 3, clients: 0 })
  const dir = await mkdtemp(join(tmpdir(), `weft-e2e-${block}-client-`))
  t.after(async () => {
    await cluster.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const logs = (): AgentCluster => cluster
  const configDir = join(dir, 'client.d')
  await mkdir(configDir)
  await writeFile(join(configDir, 'agent.json'), JSON.stringify({ anti_entropy_interval: '1s' }))
  await writeFile(join(configDir, 'socat.json'), JSON.stringify({ service: { name: 'socat', port: 8181, connect: { sidecar_service: {} } } }))
  await writeFile(join(configDir, 'web.json'), JSON.stringify({
    service: { name: 'web', port: 8080, connect: { sidecar_service: { proxy: { upstreams: [{ destination_name: 'socat', local_bind_port: 9191 }] } } } }
  }))
  const ip = `127.0.${block}.1`
  const client: AgentProcess = { name: 'c1', ip, http: `http://${ip}:8500`, server: false, proc: null }
  const servers = cluster.servers()
  client.proc = await spawnReady(process.execPath, [
    weft, 'agent', '-node=c1', `-bind=${ip}`, `-client=${ip}`, `-data-dir=${join(dir, 'c1')}`, `-config-dir=${configDir}`,
    ...servers.map(server => `-retry-join=${server.ip}`), '-log-json', '-log-level=info'
  ], { timeoutMs: 30_000, what: 'client agent c1' })
  cluster.agents.set('c1', client)
  const [s1, s2, s3] = servers as [AgentProcess, AgentProcess, AgentProcess]

  await t.test('services and sidecars reach the catalog and health endpoints of every server', async (st) => withLogs(st, logs, async () => {
    for (const server of [s1, s2, s3]) {
      const sidecar = await waitFor(async () => {
        const entries = await catalogService(server, 'web-sidecar-proxy')
        return entries.length === 1 ? entries[0] : undefined
      }, { timeoutMs: syncDeadlineMs, what: `web-sidecar-proxy in ${server.name}'s catalog` })
      assert.equal(sidecar?.Node, 'c1')
      assert.equal(sidecar?.ServiceKind, 'connect-proxy')
      assert.ok(sidecar !== undefined && sidecar.ServicePort >= 21000 && sidecar.ServicePort <= 21255, `sidecar port ${sidecar?.ServicePort}`)
      assert.equal(sidecar?.ServiceProxy.DestinationServiceName, 'web')
      assert.equal(sidecar?.ServiceProxy.LocalServicePort, 8080)
      assert.deepEqual((sidecar?.ServiceProxy.Upstreams as Array<Record<string, unknown>>).map(upstream => [upstream.DestinationName, upstream.LocalBindPort]), [['socat', 9191]])
      const web = await waitFor(async () => (await catalogService(server, 'web')).find(entry => entry.Node === 'c1'), { timeoutMs: syncDeadlineMs, what: `web in ${server.name}'s catalog` })
      assert.equal(web?.ServicePort, 8080)
    }
    const health = await healthService(s1, '/v1/health/service/web-sidecar-proxy')
    assert.deepEqual(health.map(entry => [entry.Node.Node, entry.Service.ID]), [['c1', 'web-sidecar-proxy']])
    assert.deepEqual(health[0]?.Checks.map(check => check.CheckID).filter(id => id.startsWith('service:')).sort(), ['service:web-sidecar-proxy:1', 'service:web-sidecar-proxy:2'])
    assert.deepEqual((await healthService(s2, '/v1/health/service/web')).map(entry => entry.Service.ID), ['web'])
    const connect = await healthService(s3, '/v1/health/connect/web')
    assert.deepEqual(connect.map(entry => entry.Service.ID), ['web-sidecar-proxy'], 'the sidecar is web\'s mesh endpoint')
    // The agent's own view: Consul's AgentService with the sidecar defaults.
    const local = await http(client, 'GET', '/v1/agent/service/socat-sidecar-proxy')
    assert.equal(local.status, 200, local.text)
    assert.match(local.headers.get('x-consul-contenthash') ?? '', /^[0-9a-f]{16}$/)
    assert.deepEqual((local.json as { Proxy: Record<string, unknown> }).Proxy.DestinationServiceID, 'socat')
  }))

  await t.test('a manual catalog deregistration is repaired by anti-entropy', async (st) => withLogs(st, logs, async () => {
    const removed = await http(s2, 'PUT', '/v1/catalog/deregister', { body: JSON.stringify({ Node: 'c1', ServiceID: 'web' }) })
    assert.equal(removed.status, 200, removed.text)
    assert.deepEqual(await catalogService(s2, 'web'), [], 'gone right after the deregistration')
    const startedMs = Date.now()
    await waitFor(async () => (await catalogService(s1, 'web')).some(entry => entry.Node === 'c1'), { timeoutMs: syncDeadlineMs, what: 'web back in the catalog' })
    st.diagnostic(`web was back in the catalog ${Date.now() - startedMs} ms after the manual deregistration (anti_entropy_interval 1s)`)
    // A stranger registered for c1 directly in the catalog is removed the same way.
    const stranger = await http(s3, 'PUT', '/v1/catalog/register', { body: JSON.stringify({ Node: 'c1', Address: ip, SkipNodeUpdate: true, Service: { Service: 'stranger', Port: 1 } }) })
    assert.equal(stranger.status, 200, stranger.text)
    await waitFor(async () => (await catalogService(s1, 'stranger')).length === 0, { timeoutMs: syncDeadlineMs, what: 'the stranger removed from c1' })
  }))

  await t.test('weft reload adds and removes services; the unchanged one is untouched; a bad file is refused by name', async (st) => withLogs(st, logs, async () => {
    const socatBefore = (await catalogService(s1, 'socat')).find(entry => entry.Node === 'c1')
    assert.ok(socatBefore !== undefined)
    await unlink(join(configDir, 'web.json'))
    await writeFile(join(configDir, 'api.json'), JSON.stringify({ service: { name: 'api', port: 9000, check: { ttl: '30s' }, connect: { sidecar_service: {} } } }))
    const reloaded = await runWeft(['reload', `-http-addr=${client.http}`])
    assert.deepEqual([reloaded.code, reloaded.stdout, reloaded.stderr], [0, 'Configuration reload triggered\n', ''])
    await waitFor(async () => {
      const [web, webSidecar, api, apiSidecar] = await Promise.all(['web', 'web-sidecar-proxy', 'api', 'api-sidecar-proxy'].map(async name => await catalogService(s1, name)))
      return web?.length === 0 && webSidecar?.length === 0 && api?.length === 1 && apiSidecar?.length === 1
    }, { timeoutMs: syncDeadlineMs, what: 'api in and web out of the catalog after the reload' })
    const socatAfter = (await catalogService(s1, 'socat')).find(entry => entry.Node === 'c1')
    assert.equal(socatAfter?.ModifyIndex, socatBefore.ModifyIndex, 'the unchanged service was not re-registered')
    await writeFile(join(configDir, 'broken.json'), JSON.stringify({ services: [{ name: 'ok', port: 1 }, { name: 'broken', port: 'eighty' }] }))
    const refused = await runWeft(['reload', `-http-addr=${client.http}`])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /broken\.json: services\[1\] \("broken"\): Port must be an integer in 0\.\.65535, got "eighty"/)
    await waitFor(async () => (await catalogService(s1, 'ok')).length === 1, { timeoutMs: syncDeadlineMs, what: 'the good definition of the same file loaded' })
  }))
})

/** One line through a TCP connection: resolves with what came back, or rejects. */
async function echoThrough (host: string, port: number, line: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = connect({ host, port })
    let received = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no echo from ${host}:${port} within 2 s (got ${JSON.stringify(received)})`)) }, 2_000)
    socket.setEncoding('utf8')
    socket.once('connect', () => socket.write(line))
    socket.on('data', (chunk: string) => {
      received += chunk
      if (received.includes('\n')) { clearTimeout(timer); socket.end(); resolve(received) }
    })
    socket.once('error', err => { clearTimeout(timer); reject(err) })
    socket.once('close', () => { clearTimeout(timer); if (!received.includes('\n')) reject(new Error(`${host}:${port} closed without an echo`)) })
  })
}

test('managed proxies (1.2 tutorial, connect.proxy): the agent runs weft connect proxy for each service; traffic flows; reload stops them', { timeout: 120_000 }, async (t) => {
  const ip = `127.0.${block}.21`
  const dir = await mkdtemp(join(tmpdir(), `weft-e2e-${block}-managed-`))
  const echo = createServer(socket => socket.pipe(socket))
  await new Promise<void>(resolve => echo.listen(18181, ip, resolve))
  let agent: Awaited<ReturnType<typeof spawnReady>> | null = null
  t.after(async () => {
    echo.close()
    if (agent !== null) {
      const exited = new Promise<void>(resolve => agent?.child.once('exit', () => resolve()))
      agent.child.kill('SIGTERM')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })
  const configDir = join(dir, 'd')
  await mkdir(configDir)
  // The tutorial's definitions, with addresses moved into this test's block.
  await writeFile(join(configDir, 'socat.json'), JSON.stringify({ service: { name: 'socat', port: 18181, address: ip, connect: { proxy: { config: { bind_address: ip, local_service_address: `${ip}:18181` } } } } }))
  await writeFile(join(configDir, 'web.json'), JSON.stringify({
    service: { name: 'web', port: 18080, connect: { proxy: { config: { bind_address: ip, upstreams: [{ destination_name: 'socat', local_bind_address: ip, local_bind_port: 19191 }] } } } }
  }))
  agent = await spawnReady(process.execPath, [
    weft, 'agent', '-dev', `-bind=${ip}`, `-client=${ip}`, `-data-dir=${join(dir, 'data')}`, `-config-dir=${configDir}`, '-log-json', '-log-level=info'
  ], { timeoutMs: 30_000, what: 'dev agent with managed proxies' })
  const base = `http://${ip}:8500`
  try {
    const services = (await http(base, 'GET', '/v1/agent/services')).json as Record<string, { Port: number, Kind?: string }>
    assert.deepEqual(Object.keys(services), ['socat', 'socat-proxy', 'web', 'web-proxy'])
    assert.equal(services['socat-proxy']?.Kind, 'connect-proxy')
    const proxyConfig = await http(base, 'GET', '/v1/agent/connect/proxy/web-proxy')
    assert.equal(proxyConfig.status, 200, proxyConfig.text)
    assert.equal((proxyConfig.json as { TargetServiceName: string }).TargetServiceName, 'web')
    // web's proxy dials socat's over mTLS once socat-proxy's listener check passes (first run within 10 s).
    const echoed = await waitFor(async () => await echoThrough(ip, 19191, 'hello\n'), { timeoutMs: 60_000, intervalMs: 250, what: 'an echo through web-proxy and socat-proxy' })
    assert.equal(echoed, 'hello\n')
    const socatPort = services['socat-proxy']?.Port ?? 0
    await unlink(join(configDir, 'socat.json'))
    const reloaded = await runWeft(['reload', `-http-addr=${base}`])
    assert.equal(reloaded.code, 0, reloaded.stderr)
    const after = (await http(base, 'GET', '/v1/agent/services')).json as Record<string, unknown>
    assert.deepEqual(Object.keys(after), ['web', 'web-proxy'])
    await waitFor(async () => {
      try {
        await echoThrough(ip, socatPort, 'x\n')
        return false
      } catch (err) {
        return /ECONNREFUSED/.test((err as Error).message)
      }
    }, { timeoutMs: 20_000, what: `socat-proxy's listener ${ip}:${socatPort} to close once its service is gone` })
  } catch (err) {
    t.diagnostic(agent.logs().split('\n').filter(line => /"level":(40|50)|managed proxy/.test(line)).slice(-40).join('\n'))
    throw err
  }
})
