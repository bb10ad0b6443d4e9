/**
 * `weft intention create|delete|get|check|match|list` (spec §8.4): the real binary as a child
 * process against the real HTTP API (test/support/api-harness.ts) whose intentions run the real
 * server logic over an in-memory FSM. Exact stdout, stderr and exit statuses, including the
 * Consul texts of duplicate creates and argument errors; plus the pure formatters.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { describeIntention, formatIntentionDetails, formatRfc850, parseIntention } from '../../../cmd/intention.js'
import { formatIntentionTable } from '../../../cmd/commands/intention-list.js'
import { startApi, type ApiHarness } from '../../support/api-harness.js'
import { runCli } from './run-cli.js'

describe('weft intention against the HTTP API', () => {
  let api: ApiHarness
  const weft = async (args: readonly string[]) => await runCli(['intention', ...args], { env: { WEFT_HTTP_ADDR: api.base, TZ: 'UTC' } })

  before(async () => { api = await startApi() })
  after(async () => { await api.close() })

  test('create prints Created: and a second create of the pair fails with the server\'s duplicate text', async () => {
    const created = await weft(['create', '-deny', '-meta', 'team=payments', '-meta', 'tier=1', '-description', 'no web', 'web', 'socat'])
    assert.deepEqual([created.status, created.stdout, created.stderr], [0, 'Created: web => socat (deny)\n', ''])
    const [row] = (await api.server.intentionList({ consistency: 'default', minQueryIndex: 0, maxQueryTimeMs: 0, token: null })).value
    assert.deepEqual([row?.Action, row?.Meta, row?.Description], ['deny', { team: 'payments', tier: '1' }, 'no web'])

    const duplicate = await weft(['create', '-deny', 'web', 'socat'])
    assert.equal(duplicate.status, 1)
    assert.equal(duplicate.stdout, '')
    assert.equal(duplicate.stderr, `Error creating intention "web => socat (deny)": Unexpected response code: 500 (duplicate intention found: DENY default/web => default/socat (ID: ${row?.ID}, Precedence: 9))\n`)
  })

  test('create -replace overwrites the pair\'s intention in place; allow is the default action', async () => {
    const before = (await api.server.intentionGetExact('web', 'socat', { consistency: 'default', minQueryIndex: 0, maxQueryTimeMs: 0, token: null })).value
    const replaced = await weft(['create', '-replace', 'web', 'socat'])
    assert.deepEqual([replaced.status, replaced.stdout, replaced.stderr], [0, '', ''])
    const after = (await api.server.intentionGetExact('web', 'socat', { consistency: 'default', minQueryIndex: 0, maxQueryTimeMs: 0, token: null })).value
    assert.deepEqual([after?.ID, after?.Action, after?.Meta], [before?.ID, 'allow', {}])
    const fresh = await weft(['create', '-replace', '-allow', 'api', 'socat'])
    assert.deepEqual([fresh.status, fresh.stdout], [0, 'Created: api => socat (allow)\n'])
  })

  test('create: Consul\'s argument errors exit 1; invalid names come back from the agent as 400', async () => {
    const both = await weft(['create', '-allow', '-deny', 'a', 'b'])
    assert.deepEqual([both.status, both.stderr], [1, 'Only one of -allow or -deny may be specified.\n'])
    const one = await weft(['create', 'a'])
    assert.deepEqual([one.status, one.stderr], [1, 'Error: Must specify two arguments: source and destination\n'])
    const slashes = await weft(['create', 'a/b/c/d', 'b'])
    assert.deepEqual([slashes.status, slashes.stderr], [1, "Error: Invalid intention source: input can contain at most two '/'\n"])
    const meta = await weft(['create', '-meta', 'novalue', 'a', 'b'])
    assert.equal(meta.status, 2)
    assert.match(meta.stderr, /^invalid value "novalue" for flag -meta: Missing "=" value in argument: novalue\n/)
    const wildcard = await weft(['create', 'we*b', 'db'])
    assert.equal(wildcard.status, 1)
    assert.equal(wildcard.stderr, 'Error creating intention "we*b => db (allow)": Unexpected response code: 400 (1 error occurred:\n' +
      '\t* SourceName: wildcard character \'*\' cannot be used with partial values, got "we*b")\n')
  })

  test('get by pair and by ID prints Consul\'s layout; a missing one exits 1', async () => {
    const byPair = await weft(['get', 'web', 'socat'])
    assert.equal(byPair.status, 0, byPair.stderr)
    const lines = byPair.stdout.split('\n')
    assert.equal(lines[0], 'Source:       web')
    assert.equal(lines[1], 'Destination:  socat')
    assert.equal(lines[2], 'Action:       allow')
    assert.match(lines[3] ?? '', /^ID: {11}[0-9a-f-]{36}$/)
    assert.match(lines[4] ?? '', /^Created At: {3}[A-Z][a-z]+day, \d\d-[A-Z][a-z]{2}-\d\d \d\d:\d\d:\d\d UTC$/)
    const id = (lines[3] ?? '').slice('Destination:  '.length)
    const byId = await weft(['get', id])
    assert.deepEqual([byId.status, byId.stdout], [0, byPair.stdout])
    const missingPair = await weft(['get', 'nobody', 'socat'])
    assert.deepEqual([missingPair.status, missingPair.stderr], [1, 'Intention not found with source "nobody" and destination "socat"\n'])
    const missingId = await weft(['get', '5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41'])
    assert.deepEqual([missingId.status, missingId.stderr], [1, 'Intention not found with ID "5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41"\n'])
    const args = await weft(['get'])
    assert.deepEqual([args.status, args.stderr], [1, 'command requires exactly 1 or 2 arguments\n'])
  })

  test('check prints Allowed (0) or Denied (1); errors exit 2', async () => {
    const allowed = await weft(['check', 'web', 'socat'])
    assert.deepEqual([allowed.status, allowed.stdout], [0, 'Allowed\n'])
    assert.equal((await weft(['create', '-deny', 'db', 'socat'])).status, 0)
    const denied = await weft(['check', 'db', 'socat'])
    assert.deepEqual([denied.status, denied.stdout], [1, 'Denied\n'])
    const args = await weft(['check', 'web'])
    assert.deepEqual([args.status, args.stderr], [2, 'Error: command requires exactly two arguments: src and dst\n'])
    const bad = await weft(['check', 'a/b/c/d', 'socat'])
    assert.equal(bad.status, 2)
    assert.match(bad.stderr, /^Error checking the connection: Unexpected response code: 400 \(input can contain at most one '\/'/)
  })

  test('match lists the intentions for a destination or a source in evaluation order', async () => {
    assert.equal((await weft(['create', '-deny', '*', 'socat'])).status, 0)
    const byDestination = await weft(['match', 'socat'])
    assert.deepEqual([byDestination.status, byDestination.stdout], [0, 'api => socat (allow)\ndb => socat (deny)\nweb => socat (allow)\n* => socat (deny)\n'])
    const bySource = await weft(['match', '-source', 'web'])
    assert.deepEqual([bySource.status, bySource.stdout], [0, 'web => socat (allow)\n* => socat (deny)\n'])
    const nothing = await weft(['match', 'nothing-here'])
    assert.deepEqual([nothing.status, nothing.stdout], [0, ''])
    const both = await weft(['match', '-source', '-destination', 'x'])
    assert.deepEqual([both.status, both.stderr], [1, 'Error: only one of -source or -destination may be specified\n'])
    const args = await weft(['match'])
    assert.deepEqual([args.status, args.stderr], [1, 'Error: command requires exactly one argument: src or dst\n'])
  })

  test('list prints the table; delete by pair and by ID; an empty list exits 2', async () => {
    const list = await weft(['list'])
    assert.equal(list.status, 0, list.stderr)
    const lines = list.stdout.trimEnd().split('\n')
    assert.match(lines[0] ?? '', /^ID {36}Source {2}Action {2}Destination {2}Precedence$/)
    assert.deepEqual(lines.slice(1).map(line => line.split(/\s+/).slice(1)), [
      ['api', 'allow', 'socat', '9'], ['db', 'deny', 'socat', '9'], ['web', 'allow', 'socat', '9'], ['*', 'deny', 'socat', '8']
    ])
    const deletedPair = await weft(['delete', 'web', 'socat'])
    assert.deepEqual([deletedPair.status, deletedPair.stdout], [0, 'Intention deleted.\n'])
    const id = (lines[1] ?? '').split(' ')[0] as string
    const deletedId = await weft(['delete', id])
    assert.deepEqual([deletedId.status, deletedId.stdout], [0, 'Intention deleted.\n'])
    const again = await weft(['delete', id])
    assert.deepEqual([again.status, again.stderr], [1, `Error deleting the intention: Unexpected response code: 500 (Cannot delete non-existent intention: '${id}')\n`])
    const args = await weft(['delete', 'a', 'b', 'c'])
    assert.deepEqual([args.status, args.stderr], [1, 'command requires exactly 1 or 2 arguments\n'])
    for (const pair of [['db', 'socat'], ['*', 'socat']]) assert.equal((await weft(['delete', ...pair])).status, 0)
    const empty = await weft(['list'])
    assert.deepEqual([empty.status, empty.stdout, empty.stderr], [2, '', 'There are no intentions.\n'])
  })
})

test('formatters: String(), RFC 850 times, get layout with meta and L7 permissions, list table', () => {
  const intention = parseIntention({
    ID: '5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41', Description: 'd', SourceNS: 'default', SourceName: 'web', DestinationNS: 'default',
    DestinationName: 'db', SourceType: 'consul', Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/a' } }], Meta: { b: '2', a: '1' },
    Precedence: 9, CreatedAt: '2024-05-01T10:05:00.123456789Z'
  }, 'x')
  assert.equal(describeIntention(intention), 'web => db (1 permission)')
  assert.equal(describeIntention({ ...intention, permissions: [{}, {}] }), 'web => db (2 permissions)')
  assert.equal(describeIntention({ ...intention, sourceNs: 'team', permissions: [], action: 'deny' }), 'team/web => db (deny)')
  assert.equal(formatRfc850('2024-05-01T10:05:00.123456789Z', 'UTC'), 'Wednesday, 01-May-24 10:05:00 UTC')
  assert.equal(formatRfc850('', 'UTC'), 'Monday, 01-Jan-01 00:00:00 UTC')
  assert.equal(formatIntentionDetails(intention, 'UTC'), [
    'Source:       web',
    'Destination:  db',
    'ID:           5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41',
    'Description:  d',
    'Meta[a]:      1',
    'Meta[b]:      2',
    'Created At:   Wednesday, 01-May-24 10:05:00 UTC',
    'Permissions:',
    '[',
    '  {',
    '    "Action": "allow",',
    '    "HTTP": {',
    '      "PathPrefix": "/a"',
    '    }',
    '  }',
    ']'
  ].join('\n'))
  assert.equal(formatIntentionTable([intention]), [
    'ID                                    Source  Action  Destination  Precedence',
    '5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41  web             db           9'
  ].join('\n'))
})
