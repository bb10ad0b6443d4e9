/**
 * Intentions end to end on real processes (127.0.60.x): three servers and a client agent.
 * Intentions are created, replaced and deleted through the HTTP API and through the `weft`
 * CLI, and POST /v1/agent/connect/authorize must flip on EVERY agent within 1 s of each change:
 * the clock starts just before an HTTP write is sent (so it includes the write itself) or when
 * the CLI command has returned, every agent is polled until it answers the new decision, and
 * each agent's latency is reported and asserted <= 1000 ms. Then bad intentions are refused
 * (400 with Consul's texts, a duplicate pair 500 through HTTP and the CLI), nothing of them is
 * stored, and the cluster keeps serving intentions and authorize.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { AgentCluster, type AgentProcess } from './agent-cluster.js'
import { consulIndex, http, runWeft, withLogs } from './http-client.js'
import { waitFor } from '../../src/util/wait-for.js'

const flipLatencyMsMax = 1_000
/** How long a flip is waited for before the test gives up (the assertion is the 1 s above). */
const flipDeadlineMs = 10_000
const webUri = 'spiffe://0c8a1d3e-5b6f-4a1b-9c2d-3e4f5a6b7c8d.consul/ns/default/dc/dc1/svc/web'

interface Decision {
  readonly Authorized: boolean
  readonly Reason: string
}

const allowedByDefault: Decision = { Authorized: true, Reason: 'ACLs disabled, access is allowed by default' }
const denied: Decision = { Authorized: false, Reason: 'Matched L4 intention: web => socat (deny)' }
const allowed: Decision = { Authorized: true, Reason: 'Matched L4 intention: web => socat (allow)' }
const deniedByWildcard: Decision = { Authorized: false, Reason: 'Matched L4 intention: * => socat (deny)' }

async function authorize (agent: AgentProcess): Promise<Decision> {
  const answer = await http(agent, 'POST', '/v1/agent/connect/authorize', {
    body: JSON.stringify({ Target: 'socat', ClientCertURI: webUri, ClientCertSerial: '0a' }),
    timeoutMs: 5_000
  })
  assert.equal(answer.status, 200, `${agent.name}: ${answer.text}`)
  return answer.json as Decision
}

function sameDecision (a: Decision, b: Decision): boolean {
  return a.Authorized === b.Authorized && a.Reason === b.Reason
}

/**
 * Runs `change`, polling every agent's authorize from `clockStart` until it answers `expected`;
 * returns each agent's latency from `clockStart` (or from when `change` resolved, with
 * `from: 'acknowledged'`).
 */
async function measureFlip (
  agents: readonly AgentProcess[], expected: Decision, change: () => Promise<void>, options: { from: 'sent' | 'acknowledged' }
): Promise<Map<string, number>> {
  let clockStart = performance.now()
  if (options.from === 'acknowledged') {
    await change()
    clockStart = performance.now()
  }
  const written = options.from === 'sent' ? change() : Promise.resolve()
  const latencies = await Promise.all(agents.map(async agent => {
    let last: Decision | undefined
    for (;;) {
      last = await authorize(agent)
      const elapsedMs = performance.now() - clockStart
      if (sameDecision(last, expected)) return [agent.name, elapsedMs] as const
      if (elapsedMs > flipDeadlineMs) {
        throw new Error(`${agent.name} still answers ${JSON.stringify(last)} ${Math.round(elapsedMs)} ms after the change; expected ${JSON.stringify(expected)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 5)) // poll interval, not synchronisation
    }
  }))
  await written
  return new Map(latencies)
}

function report (t: TestContext, step: string, latencies: Map<string, number>): void {
  const text = [...latencies].map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join(', ')
  t.diagnostic(`authorize flip after ${step}: ${text}`)
  for (const [name, ms] of latencies) {
    assert.ok(ms <= flipLatencyMsMax, `${name} flipped ${ms.toFixed(0)} ms after ${step}, more than ${flipLatencyMsMax} ms`)
  }
}

async function weft (agent: AgentProcess, args: readonly string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await runWeft(['intention', ...args.slice(0, 1), `-http-addr=${agent.http}`, ...args.slice(1)], { timeoutMs: 30_000 })
}

test('intentions: authorize flips within 1 s on every agent; bad intentions are refused', { timeout: 180_000 }, async (t) => {
  const cluster = await AgentCluster.start({ block: 60, servers: 3, clients: 1 })
  t.after(async () => await cluster.stop())
  const logs = (): AgentCluster => cluster
  const [s1, s2, s3] = cluster.servers() as [AgentProcess, AgentProcess, AgentProcess]
  const c1 = cluster.get('c1')
  const agents = [s1, s2, s3, c1]
  const all = new Map<string, number[]>()
  const record = (latencies: Map<string, number>): void => {
    for (const [name, ms] of latencies) all.set(name, [...(all.get(name) ?? []), ms])
  }

  await t.test('before any intention every agent allows by default (ACLs disabled)', async (st) => withLogs(st, logs, async () => {
    for (const agent of agents) {
      await waitFor(async () => sameDecision(await authorize(agent), allowedByDefault), { timeoutMs: 30_000, what: `${agent.name} to answer authorize` })
    }
  }))

  await t.test('HTTP create, replace and delete flip authorize on every agent within 1 s', async (st) => withLogs(st, logs, async () => {
    let id = ''
    const created = await measureFlip(agents, denied, async () => {
      const answer = await http(c1, 'POST', '/v1/connect/intentions', { body: JSON.stringify({ SourceName: 'web', DestinationName: 'socat', Action: 'deny' }) })
      assert.equal(answer.status, 200, answer.text)
      id = (answer.json as { ID: string }).ID
    }, { from: 'sent' })
    report(st, 'POST /v1/connect/intentions (deny)', created)
    record(created)

    const replaced = await measureFlip(agents, allowed, async () => {
      const answer = await http(s2, 'PUT', `/v1/connect/intentions/${id}`, { body: JSON.stringify({ SourceName: 'web', DestinationName: 'socat', Action: 'allow' }) })
      assert.equal(answer.status, 200, answer.text)
    }, { from: 'sent' })
    report(st, 'PUT /v1/connect/intentions/<id> (allow)', replaced)
    record(replaced)

    const wildcard = await measureFlip(agents, allowed, async () => {
      // A lower-precedence wildcard changes nothing for web: the exact intention still decides.
      const answer = await http(s3, 'PUT', '/v1/connect/intentions/exact?source=*&destination=socat', { body: JSON.stringify({ Action: 'deny' }) })
      assert.equal(answer.status, 200, answer.text)
    }, { from: 'sent' })
    record(wildcard)

    const deleted = await measureFlip(agents, deniedByWildcard, async () => {
      const answer = await http(s1, 'DELETE', '/v1/connect/intentions/exact?source=web&destination=socat')
      assert.deepEqual([answer.status, answer.text], [200, 'true'])
    }, { from: 'sent' })
    report(st, 'DELETE /v1/connect/intentions/exact web => socat (the * => socat deny now decides)', deleted)
    record(deleted)

    const back = await measureFlip(agents, allowedByDefault, async () => {
      const answer = await http(c1, 'DELETE', '/v1/connect/intentions/exact?source=*&destination=socat')
      assert.equal(answer.status, 200, answer.text)
    }, { from: 'sent' })
    report(st, 'DELETE /v1/connect/intentions/exact * => socat', back)
    record(back)
  }))

  await t.test('CLI create, create -replace and delete flip authorize on every agent within 1 s', async (st) => withLogs(st, logs, async () => {
    const created = await measureFlip(agents, denied, async () => {
      const result = await weft(c1, ['create', '-deny', 'web', 'socat'])
      assert.deepEqual([result.code, result.stdout, result.stderr], [0, 'Created: web => socat (deny)\n', ''])
    }, { from: 'acknowledged' })
    report(st, 'weft intention create -deny web socat', created)
    record(created)
    const check = await weft(s1, ['check', 'web', 'socat'])
    assert.deepEqual([check.code, check.stdout], [1, 'Denied\n'])

    const replaced = await measureFlip(agents, allowed, async () => {
      const result = await weft(s3, ['create', '-replace', '-allow', 'web', 'socat'])
      assert.equal(result.code, 0, result.stderr)
    }, { from: 'acknowledged' })
    report(st, 'weft intention create -replace -allow web socat', replaced)
    record(replaced)
    assert.deepEqual(await weft(c1, ['check', 'web', 'socat']).then(r => [r.code, r.stdout]), [0, 'Allowed\n'])

    const deleted = await measureFlip(agents, allowedByDefault, async () => {
      const result = await weft(s2, ['delete', 'web', 'socat'])
      assert.deepEqual([result.code, result.stdout], [0, 'Intention deleted.\n'])
    }, { from: 'acknowledged' })
    report(st, 'weft intention delete web socat', deleted)
    record(deleted)
  }))

  await t.test('bad intentions are refused with Consul\'s texts, nothing is stored, and the cluster keeps serving', async (st) => withLogs(st, logs, async () => {
    const created = await weft(c1, ['create', '-deny', 'web', 'socat'])
    assert.equal(created.code, 0, created.stderr)
    const listing = await http(s1, 'GET', '/v1/connect/intentions?consistent')
    const [existing] = listing.json as Array<{ ID: string }>
    const indexBefore = consulIndex(listing)
    for (const agent of agents) {
      const invalid = await http(agent, 'POST', '/v1/connect/intentions', { body: JSON.stringify({ SourceName: 'we*b', DestinationName: 'socat', Action: 'permit' }) })
      assert.deepEqual([invalid.status, invalid.text], [400, '2 errors occurred:\n' +
        '\t* SourceName: wildcard character \'*\' cannot be used with partial values, got "we*b"\n' +
        '\t* Action must be set to \'allow\' or \'deny\', got "permit"\n\n'], agent.name)
      const badExact = await http(agent, 'PUT', '/v1/connect/intentions/exact?source=web&destination=socat', { body: JSON.stringify({ Action: 'maybe' }) })
      assert.deepEqual([badExact.status, badExact.text], [400, '1 error occurred:\n\t* Action must be set to \'allow\' or \'deny\', got "maybe"\n\n'], agent.name)
      const missing = await http(agent, 'GET', '/v1/connect/intentions/check?source=web')
      assert.deepEqual([missing.status, missing.text], [400, "required query parameter 'destination' not set"], agent.name)
      const malformed = await http(agent, 'DELETE', '/v1/connect/intentions/not-a-uuid')
      assert.equal(malformed.status, 400, agent.name)
      const duplicate = await http(agent, 'POST', '/v1/connect/intentions', { body: JSON.stringify({ SourceName: 'web', DestinationName: 'socat', Action: 'allow' }) })
      assert.deepEqual([duplicate.status, duplicate.text], [500, `duplicate intention found: DENY default/web => default/socat (ID: ${existing?.ID}, Precedence: 9)`], agent.name)
      assert.match(duplicate.headers.get('content-type') ?? '', /^text\/plain/)
    }
    const cli = await weft(s2, ['create', '-deny', 'web', 'socat'])
    assert.equal(cli.code, 1)
    assert.equal(cli.stderr, `Error creating intention "web => socat (deny)": Unexpected response code: 500 (duplicate intention found: DENY default/web => default/socat (ID: ${existing?.ID}, Precedence: 9))\n`)
    const badCli = await weft(c1, ['create', 'web', 'my service'])
    assert.equal(badCli.code, 1)
    assert.match(badCli.stderr, /^Error creating intention "web => my service \(allow\)": Unexpected response code: 400 \(1 error occurred:\n\t\* DestinationName must be a service name/)

    // Nothing of it was stored: the intentions table did not move and still holds the one intention.
    const after = await http(s3, 'GET', '/v1/connect/intentions?consistent')
    assert.equal(consulIndex(after), indexBefore, 'a refused intention changed the intentions table')
    assert.deepEqual((after.json as Array<{ ID: string, Action: string }>).map(i => [i.ID, i.Action]), [[existing?.ID, 'deny']])

    // Every agent is alive and keeps serving: authorize, a new write, the CLI.
    for (const agent of agents) {
      assert.ok(agent.proc !== null && agent.proc.child.exitCode === null, `${agent.name} is not running`)
      assert.deepEqual(await authorize(agent), denied)
    }
    const flip = await measureFlip(agents, allowed, async () => {
      const answer = await http(s1, 'PUT', '/v1/connect/intentions/exact?source=web&destination=socat', { body: JSON.stringify({ Action: 'allow' }) })
      assert.equal(answer.status, 200, answer.text)
    }, { from: 'sent' })
    report(st, 'PUT /v1/connect/intentions/exact (allow) after the refusals', flip)
    record(flip)
    const list = await weft(c1, ['list'])
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /web +allow +socat +9/)
  }))

  const summary = [...all].map(([name, values]) => `${name} max ${Math.max(...values).toFixed(0)} ms (${values.map(v => v.toFixed(0)).join('/')})`)
  t.diagnostic(`authorize flip latency per agent: ${summary.join('; ')}`)
})
