/**
 * `weft keygen` and `weft keyring` (cmd/commands/keygen.ts, keyring.ts): the parser and the list
 * formatting in-process, then the real binary against a small fake agent whose
 * /v1/operator/keyring is backed by three members' real Keyrings and the summaries from
 * src/gossip/keyring.ts, so a whole install → use → remove rotation runs end to end over HTTP.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createTcpServer, type AddressInfo } from 'node:net'
import { formatKeyringPool, parseKeyring, parseKeyringPools } from '../../../cmd/commands/keyring.js'
import { isCliError } from '../../../cmd/errors.js'
import {
  applyKeyringCommand, Keyring, parseKeyringRequestBody, summarizeKeyringOperation, summarizeKeyrings, type KeyringOperation
} from '../../../src/gossip/keyring.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { runCli } from './run-cli.js'

type Flags = Map<string, string | boolean | number>
const input = (flags: Flags, args: string[] = []) => ({ args, flags })
const newKey = (): string => randomBytes(32).toString('base64')

describe('keyring parser and formatting', () => {
  const key = newKey()

  test('one action becomes a request', () => {
    assert.deepEqual(parseKeyring(input(new Map([['list', true]]))), { kind: 'list', which: 'keys', relayFactor: 0, localOnly: false })
    assert.deepEqual(parseKeyring(input(new Map<string, string | boolean | number>([['list-primary', true], ['local-only', true], ['relay-factor', 3]]))),
      { kind: 'list', which: 'primary', relayFactor: 3, localOnly: true })
    for (const op of ['install', 'use', 'remove'] as const) {
      assert.deepEqual(parseKeyring(input(new Map([[op, key]]))), { kind: 'change', op, key, relayFactor: 0 })
    }
  })

  test("refusals print Consul's texts and exit 1", () => {
    const refusal = (flags: Flags) => {
      const result = parseKeyring(input(flags))
      assert.equal(result.kind, 'refuse')
      assert.ok(result.kind === 'refuse')
      assert.equal(result.status, 1)
      return result.message
    }
    assert.match(refusal(new Map()), /^Usage: weft keyring \[options\]\n\nManages the keys that encrypt gossip/)
    assert.match(refusal(new Map([['install', '']])), /^Usage: weft keyring/) // an empty key is no action, as in Consul
    assert.equal(refusal(new Map<string, string | boolean | number>([['list', true], ['install', key]])), 'Only a single action is allowed')
    assert.equal(refusal(new Map([['list', true], ['list-primary', true]])), 'Only a single action is allowed')
    assert.equal(refusal(new Map([['use', key], ['remove', key]])), 'Only a single action is allowed')
    assert.equal(refusal(new Map<string, string | boolean | number>([['list', true], ['relay-factor', 6]])),
      'Error parsing relay factor: Relay factor must be in range: [0, 5]')
    assert.equal(refusal(new Map<string, string | boolean | number>([['install', key], ['local-only', true]])),
      'Error validating local-only: local-only can only be set for list requests')
    assert.equal(refusal(new Map([['use', 'c2hvcnQ=']])),
      "error: -use is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 5 bytes; make a key with 'weft keygen'")
    assert.throws(() => parseKeyring(input(new Map([['list', true]]), ['extra'])),
      (err: unknown) => isCliError(err, 'ERR_USAGE') && err.message === 'Too many arguments (expected 0, got 1)')
  })

  test('pools print as Consul prints them, keys by holder count then text', () => {
    const [lan, wan, segment] = parseKeyringPools([
      { WAN: false, Datacenter: 'dc1', Segment: '', Keys: { bbbb: 2, aaaa: 2, cccc: 3 }, PrimaryKeys: { cccc: 3 }, NumNodes: 3 },
      { WAN: true, Datacenter: 'dc1', Segment: '', Messages: { 'b.dc1': 'late', 'a.dc1': 'slow' }, Keys: { cccc: 1 }, PrimaryKeys: {}, NumNodes: 2 },
      { WAN: false, Datacenter: 'dc2', Segment: 'alpha', Keys: { cccc: 1 }, NumNodes: 1 }
    ])
    assert.ok(lan !== undefined && wan !== undefined && segment !== undefined)
    assert.equal(formatKeyringPool(lan, 'keys'), '\ndc1 (LAN):\n  cccc [3/3]\n  aaaa [2/3]\n  bbbb [2/3]')
    assert.equal(formatKeyringPool(lan, 'primary'), '\ndc1 (LAN):\n  cccc [3/3]')
    assert.equal(formatKeyringPool(wan, 'keys'), '\nWAN:\n  ===> a.dc1: slow\n  ===> b.dc1: late\n  cccc [1/2]')
    assert.equal(formatKeyringPool(segment, 'primary'), '\ndc2 (LAN) [alpha]:')
  })

  test('an answer of the wrong shape is an invalid response', () => {
    for (const body of [{}, [1], [{ Keys: {} }], [{ NumNodes: 1, Keys: { k: 'two' } }], [{ NumNodes: 1, Keys: [] }]]) {
      assert.throws(() => parseKeyringPools(body), (err: unknown) => isCliError(err, 'ERR_INVALID_RESPONSE') &&
        err.message.startsWith('unexpected answer from GET /v1/operator/keyring: '), JSON.stringify(body))
    }
  })
})

/** Three members' keyrings behind Consul's /v1/operator/keyring, applied in-process. */
class FakeKeyringAgent {
  readonly requests: Array<{ method: string, url: string, body: string }> = []
  readonly members: Array<{ name: string, keyring: Keyring }>
  address = ''
  private server: Server | undefined

  constructor (initialKey: string) {
    this.members = ['alpha', 'beta', 'gamma'].map(name => ({ name, keyring: new Keyring([], Keyring.parseKey(initialKey)) }))
  }

  async start (): Promise<void> {
    const server = createServer((request, response) => { void this.handle(request, response) })
    this.server = server
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    this.address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  private states () {
    return this.members.map(({ name, keyring }) => ({ name, fingerprints: keyring.fingerprints(), primaryFingerprint: keyring.primaryFingerprint() }))
  }

  private async handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const method = request.method ?? ''
    this.requests.push({ method, url: request.url ?? '', body })
    if (new URL(request.url ?? '/', 'http://fake').pathname !== '/v1/operator/keyring') return reply(response, 404, 'text/plain', 'not found')
    if (method === 'GET') {
      const known = this.members[0]?.keyring.list().keys ?? []
      return reply(response, 200, 'application/json', JSON.stringify([summarizeKeyrings(this.states(), known, { datacenter: 'dc1' })]))
    }
    const ops: Record<string, KeyringOperation> = { POST: 'install', PUT: 'use', DELETE: 'remove' }
    const op = ops[method]
    if (op === undefined) return reply(response, 405, 'text/plain', `method ${method} not allowed`)
    let command
    try {
      command = parseKeyringRequestBody(op, JSON.parse(body))
    } catch (err) {
      return reply(response, 400, 'text/plain', (err as Error).message)
    }
    const failures = new Map<string, string>()
    for (const member of this.members) {
      try {
        applyKeyringCommand(member.keyring, command)
      } catch (err) {
        if (!isControlPlaneError(err)) throw err
        failures.set(member.name, err.message)
      }
    }
    const status = summarizeKeyringOperation(command, this.states(), { datacenter: 'dc1', failures, deadlinePassed: true })
    if (status.state === 'failed') return reply(response, 500, 'text/plain', status.message)
    reply(response, 200, 'application/json', '')
  }
}

function reply (response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'Content-Type': contentType })
  response.end(body)
}

describe('weft keygen and weft keyring against a fake agent', () => {
  const oldKey = newKey()
  const agent = new FakeKeyringAgent(oldKey)
  const weft = async (args: readonly string[]) => await runCli(args, { env: { WEFT_HTTP_ADDR: agent.address } })

  before(async () => { await agent.start() })
  after(async () => { await agent.stop() })

  test('keygen prints one base64 line of 32 bytes and nothing else', async () => {
    const first = await weft(['keygen'])
    assert.equal(first.status, 0)
    assert.equal(first.stderr, '')
    assert.match(first.stdout, /^[A-Za-z0-9+/]{43}=\n$/)
    assert.equal(Buffer.from(first.stdout.trim(), 'base64').length, 32)
    assert.notEqual((await weft(['keygen'])).stdout, first.stdout)
    const extra = await weft(['keygen', 'x'])
    assert.equal(extra.status, 2)
    assert.match(extra.stderr, /^Too many arguments \(expected 0, got 1\)\n/)
  })

  test('no action prints the help and exits 1; two actions are refused; nothing reaches the agent', async () => {
    const before = agent.requests.length
    const none = await weft(['keyring'])
    assert.deepEqual([none.status, none.stdout], [1, ''])
    assert.match(none.stderr, /^Usage: weft keyring \[options\]\n/)
    const two = await weft(['keyring', '-list', '-install', newKey()])
    assert.deepEqual([two.status, two.stdout, two.stderr], [1, '', 'Only a single action is allowed\n'])
    const bad = await weft(['keyring', '-install', 'bm90IGEga2V5'])
    assert.deepEqual([bad.status, bad.stdout], [1, ''])
    assert.equal(bad.stderr, "error: -install is not a valid gossip key: key size must be 16, 24 or 32 bytes, got 9 bytes; make a key with 'weft keygen'\n")
    assert.equal(agent.requests.length, before)
  })

  test('a full rotation: install, use, remove, with -list and -list-primary between the steps', async () => {
    const rotated = newKey()
    const list = async (flag: '-list' | '-list-primary') => {
      const result = await weft(['keyring', flag])
      assert.equal(result.status, 0, result.stderr)
      assert.equal(result.stderr, '')
      return result.stdout
    }
    assert.equal(await list('-list'), `==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  ${oldKey} [3/3]\n`)

    const install = await weft(['keyring', '-install', rotated])
    assert.deepEqual([install.status, install.stdout, install.stderr], [0, '==> Installing new gossip encryption key...\n', ''])
    assert.deepEqual(agent.requests.at(-1), { method: 'POST', url: '/v1/operator/keyring', body: JSON.stringify({ Key: rotated }) })
    const [first, second] = [oldKey, rotated].sort()
    assert.equal(await list('-list'), `==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  ${first ?? ''} [3/3]\n  ${second ?? ''} [3/3]\n`)
    assert.equal(await list('-list-primary'), `==> Gathering installed primary encryption keys...\n\ndc1 (LAN):\n  ${oldKey} [3/3]\n`)

    const use = await weft(['keyring', '-use', rotated])
    assert.deepEqual([use.status, use.stdout, use.stderr], [0, '==> Changing primary gossip encryption key...\n', ''])
    assert.equal(agent.requests.at(-1)?.method, 'PUT')
    assert.equal(await list('-list-primary'), `==> Gathering installed primary encryption keys...\n\ndc1 (LAN):\n  ${rotated} [3/3]\n`)

    const remove = await weft(['keyring', '-remove', oldKey])
    assert.deepEqual([remove.status, remove.stdout, remove.stderr], [0, '==> Removing gossip encryption key...\n', ''])
    assert.equal(agent.requests.at(-1)?.method, 'DELETE')
    assert.equal(await list('-list'), `==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  ${rotated} [3/3]\n`)
  })

  test("refusals by the members come back as Consul's aggregated error, exit 1", async () => {
    const primary = agent.members[0]?.keyring.list().primary ?? ''
    const remove = await weft(['keyring', '-remove', primary])
    assert.deepEqual([remove.status, remove.stdout], [1, '==> Removing gossip encryption key...\n'])
    assert.equal(remove.stderr, 'error: Unexpected response code: 500 (4 errors occurred:\n' +
      '\t* dc1 (LAN) error: 3/3 nodes reported failure\n' +
      '\t* alpha: Removing the primary key is not allowed\n' +
      '\t* beta: Removing the primary key is not allowed\n' +
      '\t* gamma: Removing the primary key is not allowed)\n')

    const use = await weft(['keyring', '-use', newKey()])
    assert.equal(use.status, 1)
    assert.match(use.stderr, /^error: Unexpected response code: 500 \(4 errors occurred:\n\t\* dc1 \(LAN\) error: 3\/3 nodes reported failure\n\t\* alpha: Requested key is not in the keyring\n/)
  })

  test('-relay-factor and -local-only travel as query parameters', async () => {
    assert.equal((await weft(['keyring', '-list', '-relay-factor=2', '-local-only'])).status, 0)
    assert.equal(agent.requests.at(-1)?.url, '/v1/operator/keyring?relay-factor=2&local-only=true')
    const key = agent.members[0]?.keyring.list().primary ?? ''
    assert.equal((await weft(['keyring', '-install', key, '-relay-factor', '1'])).status, 0)
    assert.equal(agent.requests.at(-1)?.url, '/v1/operator/keyring?relay-factor=1')
  })

  test('an agent that is not there is reported like every other command', async () => {
    const port = await closedPort()
    const result = await runCli(['keyring', '-list'], { env: { WEFT_HTTP_ADDR: `127.0.0.1:${port}` } })
    assert.equal(result.status, 1)
    assert.equal(result.stdout, '==> Gathering installed encryption keys...\n')
    assert.match(result.stderr, /^Error querying agent: .*ECONNREFUSED.*\nIs the weft agent running\?/)
  })
})

/** A loopback port with nothing listening (bound, then released). */
async function closedPort (): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}
