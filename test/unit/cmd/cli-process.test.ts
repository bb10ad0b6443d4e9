/**
 * The real `weft` binary, run as a child process against a FakeAgent on 127.0.0.1:0: exact
 * stdout, stderr and exit status for the KV, members, operator raft, snapshot, join and leave
 * commands, connection failures, server errors and usage errors (spec §15).
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeAgent, fakeSnapshotBytes } from './fake-agent.js'
import { runCli } from './run-cli.js'

const unreachableHint =
  "Is the weft agent running? Start one with 'weft agent -dev' or 'npm start', or point -http-addr / CONSUL_HTTP_ADDR at it.\n"

describe('weft CLI against a fake agent', () => {
  const agent = new FakeAgent()
  let directory = ''
  const weft = async (args: readonly string[], options: { input?: string, env?: Record<string, string> } = {}) =>
    await runCli(args, { ...options, env: { WEFT_HTTP_ADDR: agent.address, ...options.env } })

  before(async () => {
    await agent.start()
    directory = await mkdtemp(join(tmpdir(), 'weft-cli-'))
  })
  after(async () => {
    await agent.stop()
    await rm(directory, { recursive: true, force: true })
  })

  test('kv put then kv get round-trips a value', async () => {
    const put = await weft(['kv', 'put', 'redis/config/minconns', '1'])
    assert.deepEqual([put.status, put.stdout, put.stderr], [0, 'Success! Data written to: redis/config/minconns\n', ''])
    assert.equal(agent.kv.get('redis/config/minconns')?.value.toString(), '1')

    const get = await weft(['kv', 'get', 'redis/config/minconns'])
    assert.deepEqual([get.status, get.stdout, get.stderr], [0, '1\n', ''])
    const encoded = await weft(['kv', 'get', '-base64', 'redis/config/minconns'])
    assert.deepEqual([encoded.status, encoded.stdout], [0, 'MQ==\n'])
  })

  test('kv put reads @file and stdin, and takes a value that starts with a dash', async () => {
    const file = join(directory, 'license.lic')
    await writeFile(file, 'from a file')
    assert.equal((await weft(['kv', 'put', 'data/file', `@${file}`])).status, 0)
    assert.equal((await weft(['kv', 'put', 'data/stdin', '-'], { input: 'from stdin' })).status, 0)
    assert.equal((await weft(['kv', 'put', 'data/dash', '-5'])).status, 0)
    assert.equal((await weft(['kv', 'put', 'data/empty'])).status, 0)
    assert.equal(agent.kv.get('data/file')?.value.toString(), 'from a file')
    assert.equal(agent.kv.get('data/stdin')?.value.toString(), 'from stdin')
    assert.equal(agent.kv.get('data/dash')?.value.toString(), '-5')
    assert.equal(agent.kv.get('data/empty')?.value.byteLength, 0)
  })

  test('kv put -flags and -base64', async () => {
    const put = await weft(['kv', 'put', '-flags=42', '-base64', 'data/b64', Buffer.from('decoded').toString('base64')])
    assert.equal(put.status, 0, put.stderr)
    assert.equal(agent.kv.get('data/b64')?.value.toString(), 'decoded')
    assert.equal(agent.kv.get('data/b64')?.flags, 42)

    const bad = await weft(['kv', 'put', '-base64', 'data/b64', 'not*base64'])
    assert.deepEqual([bad.status, bad.stderr], [1, 'Error! Cannot base 64 decode data: illegal base64 data at input byte 3\n'])
  })

  test('kv put -cas writes only at the expected index', async () => {
    const index = agent.seed('cas/key', 'v1')
    const failed = await weft(['kv', 'put', '-cas', `-modify-index=${index + 100}`, 'cas/key', 'v2'])
    assert.deepEqual([failed.status, failed.stdout, failed.stderr], [1, '', 'Error! Did not write to cas/key: CAS failed\n'])
    assert.equal(agent.kv.get('cas/key')?.value.toString(), 'v1')

    const written = await weft(['kv', 'put', '-cas', '-modify-index', String(index), 'cas/key', 'v2'])
    assert.deepEqual([written.status, written.stdout], [0, 'Success! Data written to: cas/key\n'])
    assert.equal(agent.kv.get('cas/key')?.value.toString(), 'v2')
    assert.match(agent.requests.at(-1)?.url ?? '', new RegExp(`\\?cas=${index}$`))
  })

  test('kv get of a missing key fails with Consul\'s message', async () => {
    const result = await weft(['kv', 'get', 'no/such/key'])
    assert.deepEqual([result.status, result.stdout, result.stderr], [1, '', 'Error! No key exists at: no/such/key\n'])
  })

  test('kv get -recurse, -keys and -detailed', async () => {
    agent.seed('tree/a', '1')
    agent.seed('tree/b/c', '2')
    agent.seed('tree/b/d', '3')
    const recurse = await weft(['kv', 'get', '-recurse', 'tree/'])
    assert.deepEqual([recurse.status, recurse.stdout], [0, 'tree/a:1\ntree/b/c:2\ntree/b/d:3\n'])

    const keys = await weft(['kv', 'get', '-keys', 'tree/'])
    assert.deepEqual([keys.status, keys.stdout], [0, 'tree/a\ntree/b/\n'])

    const empty = await weft(['kv', 'get', '-recurse', 'nothing/here/'])
    assert.deepEqual([empty.status, empty.stdout, empty.stderr], [0, '', ''])

    const index = agent.seed('detail/key', 'hello', 7)
    const detailed = await weft(['kv', 'get', '-detailed', 'detail/key'])
    assert.equal(detailed.status, 0)
    assert.equal(detailed.stdout, [
      `CreateIndex      ${index}`,
      'Flags            7',
      'Key              detail/key',
      'LockIndex        0',
      `ModifyIndex      ${index}`,
      'Session          -',
      'Value            hello',
      ''
    ].join('\n'))
  })

  test('kv delete, -recurse and -cas', async () => {
    agent.seed('gone/one', 'x')
    agent.seed('gone/two', 'y')
    const index = agent.seed('gone/three', 'z')
    const single = await weft(['kv', 'delete', 'gone/one'])
    assert.deepEqual([single.status, single.stdout], [0, 'Success! Deleted key: gone/one\n'])
    assert.equal(agent.kv.has('gone/one'), false)

    const casFailed = await weft(['kv', 'delete', '-cas', `-modify-index=${index + 1}`, 'gone/three'])
    assert.deepEqual([casFailed.status, casFailed.stderr], [1, 'Error! Did not delete key gone/three: CAS failed\n'])
    const casDone = await weft(['kv', 'delete', '-cas', `-modify-index=${index}`, 'gone/three'])
    assert.deepEqual([casDone.status, casDone.stdout], [0, 'Success! Deleted key: gone/three\n'])

    const prefix = await weft(['kv', 'delete', '-recurse', 'gone/'])
    assert.deepEqual([prefix.status, prefix.stdout], [0, 'Success! Deleted keys with prefix: gone/\n'])
    assert.deepEqual([...agent.kv.keys()].filter(key => key.startsWith('gone/')), [])
  })

  test('members prints the table sorted servers first, filters by status, exits 2 on no match', async () => {
    const table = await weft(['members'])
    assert.equal(table.status, 0, table.stderr)
    assert.equal(table.stdout, [
      'Node   Address         Status  Type    Build   Protocol  DC   Partition  Segment',
      'alpha  127.0.0.1:8301  alive   server  1.17.0  2         dc1  default    <all>',
      'beta   127.0.0.2:8301  alive   client  1.17.0  2         dc1  default    <default>',
      'gamma  127.0.0.3:8301  failed  client  1.17.0  2         dc1  default    <default>',
      ''
    ].join('\n'))

    const failed = await weft(['members', '-status=fail'])
    assert.deepEqual(failed.stdout.split('\n').map(line => line.split(/\s+/)[0]), ['Node', 'gamma', ''])

    const none = await weft(['members', '-status', 'left'])
    assert.deepEqual([none.status, none.stdout, none.stderr], [2, '', ''])

    const detailed = await weft(['members', '-detailed'])
    assert.equal(detailed.status, 0)
    assert.match(detailed.stdout, /^Node {3}Address {9}Status {2}Tags\n/)
    assert.match(detailed.stdout, /\nalpha {2}127\.0\.0\.1:8301 {2}alive {3}bootstrap=1,build=1\.17\.0:ts0001,dc=dc1,id=a1,partition=default,port=8300,raft_vsn=3,role=consul,segment=<all>,vsn=2,vsn_max=3,vsn_min=2\n/)
  })

  test('operator raft list-peers prints the 1.15+ table', async () => {
    const result = await weft(['operator', 'raft', 'list-peers'])
    assert.equal(result.status, 0, result.stderr)
    assert.equal(result.stdout, [
      'Node   ID                                    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By',
      'alpha  6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10  127.0.0.1:8300  leader    true   3             57            -',
      'beta   0b44d1f8-0d3a-4c6e-8f7e-6a1e3c9d2b55  127.0.0.2:8300  follower  true   3             56            1 commit',
      'gamma  9c0e7a51-4d2b-4a8f-b1c3-2e5f6a7b8c9d  127.0.0.3:8300  follower  false  3             50            7 commits',
      ''
    ].join('\n'))
    const stale = await weft(['operator', 'raft', 'list-peers', '-stale'])
    assert.equal(stale.status, 0)
    assert.match(agent.requests.at(-1)?.url ?? '', /\/v1\/operator\/raft\/configuration\?stale=$/)
  })

  test('operator raft remove-peer and transfer-leader', async () => {
    const removed = await weft(['operator', 'raft', 'remove-peer', '-address=127.0.0.2:8300'])
    assert.deepEqual([removed.status, removed.stdout], [0, 'Removed peer with address "127.0.0.2:8300"\n'])
    const byId = await weft(['operator', 'raft', 'remove-peer', '-id', '0b44d1f8-0d3a-4c6e-8f7e-6a1e3c9d2b55'])
    assert.deepEqual([byId.status, byId.stdout], [0, 'Removed peer with id "0b44d1f8-0d3a-4c6e-8f7e-6a1e3c9d2b55"\n'])

    const unknown = await weft(['operator', 'raft', 'remove-peer', '-address=10.9.9.9:8300'])
    assert.deepEqual([unknown.status, unknown.stderr], [
      1, 'Error removing peer: Unexpected response code: 500 (address "10.9.9.9:8300" was not found in the Raft configuration)\n'
    ])
    const neither = await weft(['operator', 'raft', 'remove-peer'])
    assert.equal(neither.status, 2)
    assert.match(neither.stderr, /^Error removing peer: an address or id is required for the peer to remove\n/)
    const both = await weft(['operator', 'raft', 'remove-peer', '-id=x', '-address=y'])
    assert.equal(both.status, 2)
    assert.match(both.stderr, /^Error removing peer: cannot give both an address and id\n/)

    const transfer = await weft(['operator', 'raft', 'transfer-leader', '-id=0b44d1f8-0d3a-4c6e-8f7e-6a1e3c9d2b55'])
    assert.deepEqual([transfer.status, transfer.stdout], [0, 'Success\n'])
    assert.match(agent.requests.at(-1)?.url ?? '', /\/v1\/operator\/raft\/transfer-leader\?id=0b44d1f8/)
  })

  test('snapshot save writes a verified file; snapshot restore uploads it', async () => {
    const file = join(directory, 'backup.snap')
    const saved = await weft(['snapshot', 'save', file])
    assert.deepEqual([saved.status, saved.stdout, saved.stderr], [0, 'Saved and verified snapshot to index 57\n', ''])
    assert.deepEqual(await readFile(file), fakeSnapshotBytes)
    assert.deepEqual((await readdir(directory)).filter(name => name.endsWith('.unverified')), [])

    const restored = await weft(['snapshot', 'restore', file])
    assert.deepEqual([restored.status, restored.stdout, restored.stderr], [0, 'Restored snapshot\n', ''])
    assert.deepEqual(agent.restoredSnapshot, fakeSnapshotBytes)

    const missing = await weft(['snapshot', 'restore', join(directory, 'nope.snap')])
    assert.equal(missing.status, 1)
    assert.match(missing.stderr, /^Error opening snapshot file: ENOENT/)
  })

  test('join and leave', async () => {
    const joined = await weft(['join', '127.0.0.12', '127.0.0.13'])
    assert.deepEqual([joined.status, joined.stdout], [0, 'Successfully joined cluster by contacting 2 nodes.\n'])

    const partial = await weft(['join', 'bad-host', '127.0.0.12'])
    assert.equal(partial.status, 0)
    assert.equal(partial.stdout, 'Successfully joined cluster by contacting 1 nodes.\n')
    assert.match(partial.stderr, /^Error joining address 'bad-host': Unexpected response code: 500 \(1 error occurred:/)

    const none = await weft(['join', 'bad-host'])
    assert.equal(none.status, 1)
    assert.match(none.stderr, /Failed to join any nodes\.\n$/)

    const left = await weft(['leave'])
    assert.deepEqual([left.status, left.stdout], [0, 'Graceful leave complete\n'])
  })

  test('the token comes from -token or the environment, sent as X-Consul-Token', async () => {
    await weft(['members', '-token=flag-token'])
    assert.equal(agent.requests.at(-1)?.token, 'flag-token')
    await weft(['members'], { env: { CONSUL_HTTP_TOKEN: 'env-token' } })
    assert.equal(agent.requests.at(-1)?.token, 'env-token')
    const tokenFile = join(directory, 'token')
    await writeFile(tokenFile, 'file-token\n')
    await weft(['members', `-token-file=${tokenFile}`], { env: { CONSUL_HTTP_TOKEN: 'env-token' } })
    assert.equal(agent.requests.at(-1)?.token, 'file-token')
  })

  test('the address comes from -http-addr or CONSUL_HTTP_ADDR, with or without a scheme', async () => {
    const hostPort = agent.address.replace('http://', '')
    const fromFlag = await runCli(['members', `-http-addr=${hostPort}`])
    assert.equal(fromFlag.status, 0, fromFlag.stderr)
    const fromEnv = await runCli(['members'], { env: { CONSUL_HTTP_ADDR: hostPort } })
    assert.equal(fromEnv.status, 0, fromEnv.stderr)
  })

  test('server errors are reported with Consul\'s wording and exit 1', async () => {
    agent.noLeader = true
    try {
      const get = await weft(['kv', 'get', 'any'])
      assert.deepEqual([get.status, get.stdout, get.stderr], [1, '', 'Error querying agent: Unexpected response code: 500 (No cluster leader)\n'])
      const put = await weft(['kv', 'put', 'any', 'v'])
      assert.deepEqual([put.status, put.stderr], [1, 'Error! Failed writing data: Unexpected response code: 500 (No cluster leader)\n'])
      const peers = await weft(['operator', 'raft', 'list-peers'])
      assert.deepEqual([peers.status, peers.stderr], [
        1, 'Error getting peers: Failed to retrieve raft configuration: Unexpected response code: 500 (No cluster leader)\n'
      ])
    } finally {
      agent.noLeader = false
    }
  })

  test('usage errors print a message and a usage hint and exit 2', async () => {
    const cases: Array<[string[], string]> = [
      [['kv', 'get'], "Error! Missing KEY argument\nRun 'weft kv get -h' for usage.\n"],
      [['kv', 'get', '-bogus', 'key'], "flag provided but not defined: -bogus\nRun 'weft kv get -h' for usage.\n"],
      [['kv', 'put'], "Error! Missing KEY argument\nRun 'weft kv put -h' for usage.\n"],
      [['kv', 'put', '-cas', 'key', 'v'], "Must specify -modify-index with -cas!\nRun 'weft kv put -h' for usage.\n"],
      [['kv', 'put', '-flags=abc', 'key'], "invalid value \"abc\" for flag -flags: expected an unsigned integer\nRun 'weft kv put -h' for usage.\n"],
      [['kv', 'delete', '-modify-index'], "flag needs an argument: -modify-index\nRun 'weft kv delete -h' for usage.\n"],
      [['snapshot', 'save'], "Missing FILE argument\nRun 'weft snapshot save -h' for usage.\n"],
      [['join'], "At least one address to join must be specified.\nRun 'weft join -h' for usage.\n"],
      [['members', '-status=('], 'Failed to compile status regexp: Invalid regular expression: /(/: Unterminated group\n' +
        "Run 'weft members -h' for usage.\n"]
    ]
    for (const [args, stderr] of cases) {
      const result = await weft(args)
      assert.deepEqual([result.status, result.stdout, result.stderr], [2, '', stderr], `weft ${args.join(' ')}`)
    }
    const unknown = await weft(['frobnicate'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /unknown command 'frobnicate'/)
    const bare = await weft([])
    assert.equal(bare.status, 2)
    assert.match(bare.stderr, /^Usage: weft <command>/)
  })

  test('-h and --help print the command\'s help on stdout and exit 0', async () => {
    for (const flag of ['-h', '-help', '--help']) {
      const result = await weft(['kv', 'put', flag])
      assert.equal(result.status, 0)
      assert.match(result.stdout, /^Usage: weft kv put \[options\] KEY \[DATA\]\n/)
      assert.match(result.stdout, /\n {2}-modify-index=<uint> /)
    }
    const version = await weft(['version'])
    assert.deepEqual([version.status, version.stdout.split('\n')[0]], [0, 'weft v0.1.0'])
  })
})

describe('weft CLI without an agent', () => {
  test('connection refused names the address and hints at starting an agent', async () => {
    const port = await closedPort()
    const result = await runCli(['kv', 'get', 'foo'], { env: { CONSUL_HTTP_ADDR: `127.0.0.1:${port}` } })
    assert.deepEqual([result.status, result.stdout, result.stderr], [
      1, '', `Error querying agent: connect ECONNREFUSED 127.0.0.1:${port}\n${unreachableHint}`
    ])
    const members = await runCli(['members', `-http-addr=http://127.0.0.1:${port}`])
    assert.deepEqual([members.status, members.stderr], [1, `Error querying agent: connect ECONNREFUSED 127.0.0.1:${port}\n${unreachableHint}`])
  })
})

/** A port nothing listens on: bound by the OS, then released. */
async function closedPort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
