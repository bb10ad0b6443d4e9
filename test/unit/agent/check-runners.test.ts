/**
 * Check runners (spec §3.2) against real local sockets: TCP passing on a listener and critical
 * with Go's dial text on a closed port; HTTP 2xx/429/5xx with Consul's output format and the body
 * cut to its last OutputMaxSize bytes, method and headers sent, timeouts; TTL expiry; alias
 * checks following the aliased service; success/failure thresholds. Waits poll with deadlines.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import type { CheckDefinition } from '../../../src/api/service-definition.js'
import { CheckRunners, probeHttp, probeTcp } from '../../../src/agent/services/check-runners.js'
import { LocalState } from '../../../src/agent/services/local-state.js'
import { blankCheck, checkRecord } from '../../../src/agent/services/sidecar.js'
import { waitFor } from '../../../src/util/wait-for.js'
import { silentLogger } from '../../support/local-services.js'

async function tcpListener (t: TestContext): Promise<number> {
  const server = createTcpServer(socket => socket.end())
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  return (server.address() as AddressInfo).port
}

async function closedPort (): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

async function httpServer (t: TestContext, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const signal = (): AbortSignal => AbortSignal.timeout(5_000)

test('TCP: Success on a listener, Go\'s dial error on a closed port', async (t) => {
  const port = await tcpListener(t)
  assert.deepEqual(await probeTcp(`127.0.0.1:${port}`, signal()), { status: 'passing', output: `TCP connect 127.0.0.1:${port}: Success` })
  const closed = await closedPort()
  assert.deepEqual(await probeTcp(`127.0.0.1:${closed}`, signal()), { status: 'critical', output: `dial tcp 127.0.0.1:${closed}: connect: connection refused` })
  assert.deepEqual(await probeTcp('127.0.0.1', signal()), { status: 'critical', output: 'dial tcp 127.0.0.1: address 127.0.0.1: missing port in address' })
})

test('HTTP: 2xx passing, 429 warning, else critical; Consul\'s output; method, headers and body sent', async (t) => {
  let seen: { method: string | undefined, header: string | string[] | undefined, agent: string | undefined, body: string } = { method: undefined, header: undefined, agent: undefined, body: '' }
  const base = await httpServer(t, (request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => { body += chunk }).on('end', () => {
      seen = { method: request.method, header: request.headers['x-probe'], agent: request.headers['user-agent'], body }
      const code = Number(new URL(request.url ?? '/', base).searchParams.get('code') ?? '200')
      response.writeHead(code).end(`status ${code}`)
    })
  })
  const definition = (url: string, extra: Partial<CheckDefinition> = {}): CheckDefinition => ({ ...blankCheck(), type: 'http', http: url, intervalMs: 1_000, ...extra })
  assert.deepEqual(await probeHttp(definition(`${base}/health`), signal()), { status: 'passing', output: `HTTP GET ${base}/health: 200 OK Output: status 200` })
  assert.deepEqual(await probeHttp(definition(`${base}/?code=429`), signal()), { status: 'warning', output: `HTTP GET ${base}/?code=429: 429 Too Many Requests Output: status 429` })
  assert.equal((await probeHttp(definition(`${base}/?code=503`), signal())).status, 'critical')
  await probeHttp(definition(`${base}/`, { method: 'post', header: { 'X-Probe': ['a'] }, body: 'ping' }), signal())
  assert.deepEqual(seen, { method: 'POST', header: 'a', agent: 'Consul Health Check', body: 'ping' })
  const closed = await closedPort()
  assert.deepEqual(await probeHttp(definition(`http://127.0.0.1:${closed}/`), signal()), {
    status: 'critical', output: `Get "http://127.0.0.1:${closed}/": dial tcp 127.0.0.1:${closed}: connect: connection refused`
  })
})

test('HTTP: the body is cut to its last OutputMaxSize bytes; a slow server times out', async (t) => {
  const base = await httpServer(t, (request, response) => {
    if (request.url === '/slow') return // never answers
    response.writeHead(200).end('a'.repeat(100) + 'b'.repeat(10))
  })
  const result = await probeHttp({ ...blankCheck(), type: 'http', http: `${base}/`, intervalMs: 1_000, outputBytesMax: 10 }, signal())
  assert.equal(result.output, `HTTP GET ${base}/: 200 OK Output: ${'b'.repeat(10)}`)
  const slow = await probeHttp({ ...blankCheck(), type: 'http', http: `${base}/slow`, intervalMs: 1_000 }, AbortSignal.timeout(100))
  assert.equal(slow.status, 'critical')
  assert.match(slow.output, /context deadline exceeded/)
})

function runnersFor (t: TestContext, state: LocalState): { runners: CheckRunners, reports: Array<[string, string, string]> } {
  const reports: Array<[string, string, string]> = []
  const runners = new CheckRunners({
    state,
    random: () => 0,
    nodeName: 'alpha',
    logger: silentLogger,
    report: (checkId, status, output) => {
      reports.push([checkId, status, output])
      state.updateCheck(checkId, { status, output, nowMs: Date.now() })
    }
  })
  t.after(() => runners.stopAll())
  return { runners, reports }
}

function addCheck (state: LocalState, definition: CheckDefinition, serviceId = ''): void {
  const record = checkRecord(definition, { serviceId, serviceName: serviceId, serviceTags: [] })
  state.setCheck({ check: record, definition, origin: 'api', source: '', definitionKey: '', token: '' }, { keepStatus: false, nowMs: Date.now() })
}

test('TTL: critical "TTL expired" when no update arrives in time; an update restarts the timer', async (t) => {
  const state = new LocalState()
  const { runners } = runnersFor(t, state)
  const definition = { ...blankCheck(), checkId: 'ttl', name: 'ttl', type: 'ttl' as const, ttlMs: 150, status: 'passing' as const }
  addCheck(state, definition)
  runners.start('ttl', definition)
  assert.equal(runners.touchTtl('ttl'), true)
  assert.equal(state.check('ttl')?.check.Status, 'passing')
  await waitFor(() => state.check('ttl')?.check.Status === 'critical', { timeoutMs: 5_000, what: 'the TTL to expire' })
  assert.equal(state.check('ttl')?.check.Output, 'TTL expired')
  assert.equal(runners.touchTtl('not-a-check'), false)
})

test('interval checks run against real sockets and follow the listener', async (t) => {
  const state = new LocalState()
  const { runners } = runnersFor(t, state)
  const port = await tcpListener(t)
  const definition = { ...blankCheck(), checkId: 'tcp', name: 'tcp', type: 'tcp' as const, tcp: `127.0.0.1:${port}`, intervalMs: 50 }
  addCheck(state, definition)
  runners.start('tcp', definition)
  await waitFor(() => state.check('tcp')?.check.Status === 'passing', { timeoutMs: 5_000, what: 'the TCP check to pass' })
  const closed = await closedPort()
  const moved = { ...definition, tcp: `127.0.0.1:${closed}` }
  addCheck(state, moved)
  runners.start('tcp', moved)
  await waitFor(() => state.check('tcp')?.check.Status === 'critical', { timeoutMs: 5_000, what: 'the TCP check to fail on a closed port' })
})

test('thresholds: FailuresBeforeCritical and SuccessBeforePassing gate status changes', async (t) => {
  const state = new LocalState()
  const { runners, reports } = runnersFor(t, state)
  const closed = await closedPort()
  const definition = { ...blankCheck(), checkId: 'gated', name: 'gated', type: 'tcp' as const, tcp: `127.0.0.1:${closed}`, intervalMs: 20, status: 'passing' as const, failuresBeforeCritical: 3, failuresBeforeWarning: 2 }
  addCheck(state, definition)
  runners.start('gated', definition)
  await waitFor(() => state.check('gated')?.check.Status === 'critical', { timeoutMs: 5_000, what: 'critical after three failures' })
  assert.deepEqual(reports.slice(0, 2).map(report => report[1]), ['warning', 'critical'], 'one failure reports nothing, the second warns, the third is critical')
})

test('alias: mirrors the worst check of the aliased service; critical when the service is missing', async (t) => {
  const state = new LocalState()
  const { runners } = runnersFor(t, state)
  const alias = { ...blankCheck(), checkId: 'alias', name: 'alias', type: 'alias' as const, aliasService: 'web' }
  addCheck(state, alias)
  runners.start('alias', alias)
  await waitFor(() => state.check('alias')?.check.Output === 'Service web could not be found on node alpha', { timeoutMs: 5_000, what: 'alias of a missing service' })
  assert.equal(state.check('alias')?.check.Status, 'critical')
  state.setService({ service: serviceOf('web'), role: { kind: 'service' }, origin: 'api', source: '', definitionKey: '', token: '' })
  await waitFor(() => state.check('alias')?.check.Status === 'passing', { timeoutMs: 5_000, what: 'alias of a service without checks' })
  assert.equal(state.check('alias')?.check.Output, 'No checks found.')
  addCheck(state, { ...blankCheck(), checkId: 'web-ttl', name: 'web ttl', type: 'ttl', ttlMs: 60_000, status: 'warning' }, 'web')
  await waitFor(() => state.check('alias')?.check.Status === 'warning', { timeoutMs: 5_000, what: 'alias following a warning' })
  assert.equal(state.check('alias')?.check.Output, 'Aliased check "web ttl" failing: ')
  state.updateCheck('web-ttl', { status: 'passing', output: 'ok', nowMs: Date.now() })
  await waitFor(() => state.check('alias')?.check.Output === 'All checks passing.', { timeoutMs: 5_000, what: 'alias passing again' })
})

function serviceOf (id: string): Parameters<LocalState['setService']>[0]['service'] {
  return {
    ID: id, Service: id, Kind: '', Tags: [], Address: '', TaggedAddresses: {}, Meta: {}, Port: 0, SocketPath: '',
    Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Proxy: null, ConnectNative: false
  }
}
