/**
 * Intentions at the server (spec §8.1, §8.3, §7.3): a table of precedence and evaluation cases
 * (exact and wildcard sources and destinations, allow and deny, L7, the ACL default) run through
 * both the servers' /check logic (IntentionEndpoints over a real FSM) and the agents' decision
 * (decideIntention over the list); validation of user input with Consul's texts; the leader's
 * choices (ID, timestamps) and the FSM's refusals as Consul's 500s.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideIntention, describeIntention, formatGoTime, multiErrorText, validateIntentionRequest, type IntentionDefault, type IntentionRequest } from '../../../src/rpc/intentions.js'
import type { QueryOptions } from '../../../src/rpc/types.js'
import { isControlPlaneError } from '../../../src/util/errors.js'
import { MemoryIntentions } from '../../support/memory-intentions.js'

const read: QueryOptions = { consistency: 'default', minQueryIndex: 0, maxQueryTimeMs: 1_000, token: null }
const write = { token: null }
const aclsOff: IntentionDefault = { aclsEnabled: false, aclDefaultPolicy: 'allow' }
const denyByDefault: IntentionDefault = { aclsEnabled: true, aclDefaultPolicy: 'deny' }
const allowByDefault: IntentionDefault = { aclsEnabled: true, aclDefaultPolicy: 'allow' }

function memory (): MemoryIntentions {
  let id = 0
  return new MemoryIntentions({
    meta: (index, query) => ({ index, knownLeader: true, lastContactMs: 0, effectiveConsistency: query.consistency === 'default' ? 'leader' : query.consistency }),
    nowMs: () => Date.UTC(2024, 4, 1, 10, 5, 0, 120),
    newId: () => `00000000-0000-4000-8000-${String(++id).padStart(12, '0')}`
  })
}

/** `web => db allow`, `* => db deny`, `web => db (L7)`. */
function parse (spec: string): IntentionRequest {
  const match = /^(\S+) => (\S+) (allow|deny|L7)$/.exec(spec)
  assert.ok(match !== null, spec)
  const [source, destination, action] = [match[1] as string, match[2] as string, match[3] as string]
  if (action === 'L7') return { SourceName: source, DestinationName: destination, Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/api' } }] }
  return { SourceName: source, DestinationName: destination, Action: action }
}

interface EvaluationCase {
  readonly name: string
  readonly intentions: readonly string[]
  readonly source: string
  readonly destination: string
  readonly defaults: IntentionDefault
  readonly allowed: boolean
  readonly reason: string
}

const cases: readonly EvaluationCase[] = [
  { name: 'no intentions, ACLs disabled', intentions: [], source: 'web', destination: 'db', defaults: aclsOff, allowed: true, reason: 'ACLs disabled, access is allowed by default' },
  { name: 'no intentions, ACL default deny', intentions: [], source: 'web', destination: 'db', defaults: denyByDefault, allowed: false, reason: 'Default behavior configured by ACLs' },
  { name: 'no intentions, ACL default allow', intentions: [], source: 'web', destination: 'db', defaults: allowByDefault, allowed: true, reason: 'Default behavior configured by ACLs' },
  { name: 'exact allow', intentions: ['web => db allow'], source: 'web', destination: 'db', defaults: denyByDefault, allowed: true, reason: 'Matched L4 intention: web => db (allow)' },
  { name: 'exact deny', intentions: ['web => db deny'], source: 'web', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L4 intention: web => db (deny)' },
  { name: 'another source does not match', intentions: ['api => db deny'], source: 'web', destination: 'db', defaults: aclsOff, allowed: true, reason: 'ACLs disabled, access is allowed by default' },
  { name: 'another destination does not match', intentions: ['web => cache deny'], source: 'web', destination: 'db', defaults: denyByDefault, allowed: false, reason: 'Default behavior configured by ACLs' },
  { name: 'wildcard source (8) applies to any source', intentions: ['* => db deny'], source: 'web', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L4 intention: * => db (deny)' },
  { name: 'exact (9) beats wildcard source (8)', intentions: ['* => db deny', 'web => db allow'], source: 'web', destination: 'db', defaults: aclsOff, allowed: true, reason: 'Matched L4 intention: web => db (allow)' },
  { name: 'wildcard source decides for the others', intentions: ['* => db deny', 'web => db allow'], source: 'api', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L4 intention: * => db (deny)' },
  { name: 'wildcard destination (6) applies to any destination', intentions: ['web => * deny'], source: 'web', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L4 intention: web => * (deny)' },
  { name: 'wildcard source (8) beats wildcard destination (6)', intentions: ['web => * deny', '* => db allow'], source: 'web', destination: 'db', defaults: denyByDefault, allowed: true, reason: 'Matched L4 intention: * => db (allow)' },
  { name: '* => * (5) overrides the ACL default allow', intentions: ['* => * deny'], source: 'web', destination: 'db', defaults: allowByDefault, allowed: false, reason: 'Matched L4 intention: * => * (deny)' },
  { name: '* => * (5) overrides the ACL default deny', intentions: ['* => * allow'], source: 'web', destination: 'db', defaults: denyByDefault, allowed: true, reason: 'Matched L4 intention: * => * (allow)' },
  { name: 'wildcard destination (6) beats * => * (5)', intentions: ['* => * allow', 'web => * deny'], source: 'web', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L4 intention: web => * (deny)' },
  { name: 'all four: the exact one decides', intentions: ['* => * deny', 'web => * deny', '* => db deny', 'web => db allow'], source: 'web', destination: 'db', defaults: denyByDefault, allowed: true, reason: 'Matched L4 intention: web => db (allow)' },
  { name: 'an L7 intention denies L4 connections', intentions: ['web => db L7', '* => db allow'], source: 'web', destination: 'db', defaults: aclsOff, allowed: false, reason: 'Matched L7 intention: web => db (1 permission)' }
]

for (const testCase of cases) {
  test(`evaluation: ${testCase.name}`, async () => {
    const store = memory()
    store.defaults = testCase.defaults
    for (const spec of testCase.intentions) await store.endpoints.create(parse(spec), write)
    const check = await store.endpoints.check(testCase.source, testCase.destination, read)
    assert.equal(check.value.Allowed, testCase.allowed, 'servers (/check)')
    const list = (await store.endpoints.list(read)).value
    const decision = decideIntention(list, { source: testCase.source, destination: testCase.destination }, testCase.defaults)
    assert.deepEqual({ allowed: decision.authorized, reason: decision.reason }, { allowed: testCase.allowed, reason: testCase.reason }, 'agents (authorize)')
  })
}

test('a source outside the default namespace matches only wildcard-free defaults (CE)', () => {
  const decision = decideIntention([], { source: 'web', destination: 'db', sourceNamespace: 'other' }, denyByDefault)
  assert.equal(decision.authorized, false)
})

test('list and match are in evaluation order: precedence, then names', async () => {
  const store = memory()
  for (const spec of ['* => * allow', 'web => * deny', 'b => db allow', '* => db deny', 'a => db allow']) await store.endpoints.create(parse(spec), write)
  const list = (await store.endpoints.list(read)).value
  assert.deepEqual(list.map(i => `${describeIntention(i)} ${i.Precedence}`), [
    'a => db (allow) 9', 'b => db (allow) 9', '* => db (deny) 8', 'web => * (deny) 6', '* => * (allow) 5'
  ])
  const match = (await store.endpoints.match('destination', ['db', 'cache'], read)).value
  assert.deepEqual(match.db?.map(describeIntention), ['a => db (allow)', 'b => db (allow)', '* => db (deny)', 'web => * (deny)', '* => * (allow)'])
  assert.deepEqual(match.cache?.map(describeIntention), ['web => * (deny)', '* => * (allow)'])
  const bySource = (await store.endpoints.match('source', ['web'], read)).value
  assert.deepEqual(bySource.web?.map(describeIntention), ['* => db (deny)', 'web => * (deny)', '* => * (allow)'])
})

test('create: the leader assigns the ID and timestamps; the reply object has Consul\'s keys', async () => {
  const store = memory()
  const created = await store.endpoints.create({ SourceName: 'web', DestinationName: 'db', Action: 'deny', Meta: { team: 'a' } }, write)
  assert.equal(created.ID, '00000000-0000-4000-8000-000000000001')
  const got = (await store.endpoints.get(created.ID, read)).value
  assert.deepEqual(got, {
    ID: created.ID,
    Description: '',
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: 'db',
    SourceType: 'consul',
    Action: 'deny',
    Meta: { team: 'a' },
    Precedence: 9,
    CreatedAt: '2024-05-01T10:05:00.12Z',
    UpdatedAt: '2024-05-01T10:05:00.12Z',
    CreateIndex: 2,
    ModifyIndex: 2
  })
  assert.deepEqual(Object.keys(got ?? {}), ['ID', 'Description', 'SourceNS', 'SourceName', 'DestinationNS', 'DestinationName', 'SourceType', 'Action', 'Meta', 'Precedence', 'CreatedAt', 'UpdatedAt', 'CreateIndex', 'ModifyIndex'])
})

test('the FSM\'s refusals become Consul\'s 500 texts (ERR_REJECTED)', async () => {
  const store = memory()
  const first = await store.endpoints.create({ SourceName: 'web', DestinationName: 'db', Action: 'allow' }, write)
  await assert.rejects(store.endpoints.create({ SourceName: 'web', DestinationName: 'db', Action: 'deny' }, write), (err: unknown) => {
    assert.ok(isControlPlaneError(err, 'ERR_REJECTED'))
    assert.equal(err.message, `duplicate intention found: ALLOW default/web => default/db (ID: ${first.ID}, Precedence: 9)`)
    return true
  })
  const unknown = '5d3f0c8e-3b9a-4f67-8a5e-2f9d1b7c6a41'
  await assert.rejects(store.endpoints.update(unknown, { SourceName: 'x', DestinationName: 'y', Action: 'allow' }, write),
    (err: unknown) => isControlPlaneError(err, 'ERR_REJECTED') && err.message === `Cannot modify non-existent intention: '${unknown}'`)
  await assert.rejects(store.endpoints.delete({ By: 'id', ID: unknown }, write),
    (err: unknown) => isControlPlaneError(err, 'ERR_REJECTED') && err.message === `Cannot delete non-existent intention: '${unknown}'`)
  assert.equal(await store.endpoints.delete({ By: 'pair', Source: 'nobody', Destination: 'db' }, write), true)
})

test('upsertExact keeps the ID of the pair and replaces its fields; update may move the pair', async () => {
  const store = memory()
  const first = await store.endpoints.upsertExact('web', 'db', { Action: 'allow', Description: 'one' }, write)
  const second = await store.endpoints.upsertExact('web', 'db', { Action: 'deny' }, write)
  assert.equal(second.ID, first.ID)
  const row = (await store.endpoints.getExact('web', 'db', read)).value
  assert.equal(row?.Action, 'deny')
  assert.equal(row?.Description, '')
  await store.endpoints.update(first.ID, { SourceName: '*', DestinationName: 'db', Action: 'allow' }, write)
  assert.equal((await store.endpoints.getExact('web', 'db', read)).value, null)
  assert.equal((await store.endpoints.get(first.ID, read)).value?.Precedence, 8)
})

interface ValidationCase {
  readonly name: string
  readonly request: IntentionRequest
  readonly problems: readonly string[]
}

const long = (length: number): string => 'x'.repeat(length)

const validationCases: readonly ValidationCase[] = [
  { name: 'empty names', request: { Action: 'allow' }, problems: ['SourceName must be set', 'DestinationName must be set'] },
  { name: 'partial wildcard', request: { SourceName: 'web*', DestinationName: 'db', Action: 'allow' }, problems: ['SourceName: wildcard character \'*\' cannot be used with partial values, got "web*"'] },
  { name: 'bad characters', request: { SourceName: 'web', DestinationName: 'my db', Action: 'allow' }, problems: ['DestinationName must be a service name without whitespace, control characters or \'/\', got "my db"'] },
  { name: 'a slash in a name', request: { SourceName: 'a/b', DestinationName: 'db', Action: 'allow' }, problems: ['SourceName must be a service name without whitespace, control characters or \'/\', got "a/b"'] },
  { name: 'bad action', request: { SourceName: 'web', DestinationName: 'db', Action: 'permit' }, problems: ['Action must be set to \'allow\' or \'deny\', got "permit"'] },
  { name: 'missing action', request: { SourceName: 'web', DestinationName: 'db' }, problems: ['Action must be set to \'allow\' or \'deny\', got ""'] },
  { name: 'source type', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', SourceType: 'aws' }, problems: ['SourceType must be set to \'consul\', got "aws"'] },
  { name: 'namespace', request: { SourceNS: 'team', SourceName: 'web', DestinationName: 'db', Action: 'allow' }, problems: ['SourceNS: "Namespace" is an Enterprise-only feature: must be "default" or empty, got "team"'] },
  { name: 'description too long', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', Description: long(513) }, problems: ['Description exceeds maximum length 512, got 513 characters'] },
  { name: 'meta key too long', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', Meta: { [long(129)]: 'v' } }, problems: [`Meta key "${long(64)}..." exceeds maximum length 128`] },
  { name: 'meta value too long', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', Meta: { k: long(513) } }, problems: ['Meta value for key "k" exceeds maximum length 512'] },
  { name: 'too many meta pairs', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', Meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }, problems: ['Meta exceeds maximum element count 64, got 65'] },
  { name: 'action with permissions', request: { SourceName: 'web', DestinationName: 'db', Action: 'allow', Permissions: [{ Action: 'deny', HTTP: { PathExact: '/x' } }] }, problems: ['Action must be empty when Permissions are set (an L7 intention), got "allow"'] },
  { name: 'permission without HTTP', request: { SourceName: 'web', DestinationName: 'db', Permissions: [{ Action: 'deny' }] }, problems: ['Permissions[0].HTTP must be set (an object with PathExact, PathPrefix, PathRegex, Methods or Header)'] },
  { name: 'an empty HTTP match, with another problem', request: { SourceName: '', DestinationName: 'db', Permissions: [{ Action: 'deny', HTTP: {} }] }, problems: ['SourceName must be set', 'Permissions[0].HTTP must match on at least one of PathExact, PathPrefix, PathRegex, Methods or Header'] },
  { name: 'two paths', request: { SourceName: 'web', DestinationName: 'db', Permissions: [{ Action: 'deny', HTTP: { PathExact: '/a', PathPrefix: '/b' } }] }, problems: ['Permissions[0].HTTP should only contain at most one of PathExact, PathPrefix, or PathRegex, got PathExact, PathPrefix'] }
]

for (const testCase of validationCases) {
  test(`validation: ${testCase.name}`, () => {
    assert.throws(() => validateIntentionRequest(testCase.request), (err: unknown) => {
      assert.ok(isControlPlaneError(err, 'ERR_INVALID_INPUT'))
      assert.equal(err.message, multiErrorText(testCase.problems))
      return true
    })
  })
}

test('validation fills Consul\'s defaults and keeps only known permission fields', () => {
  const fields = validateIntentionRequest({
    SourceName: 'web',
    DestinationName: '*',
    Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/api', Methods: ['GET'], Header: [{ Name: 'x-team', Exact: 'a', Extra: 1 }], Unknown: true }, Other: 2 }]
  })
  assert.deepEqual(fields, {
    SourceNS: 'default',
    SourceName: 'web',
    DestinationNS: 'default',
    DestinationName: '*',
    SourceType: 'consul',
    Action: '',
    Description: '',
    Meta: {},
    Permissions: [{ Action: 'allow', HTTP: { PathPrefix: '/api', Methods: ['GET'], Header: [{ Name: 'x-team', Exact: 'a' }] } }]
  })
  assert.equal(multiErrorText(['a', 'b']), '2 errors occurred:\n\t* a\n\t* b\n\n')
})

test('timestamps are Go RFC 3339 with trailing zeros of the fraction dropped', () => {
  assert.equal(formatGoTime(Date.UTC(2024, 4, 1, 10, 5, 0, 0)), '2024-05-01T10:05:00Z')
  assert.equal(formatGoTime(Date.UTC(2024, 4, 1, 10, 5, 0, 100)), '2024-05-01T10:05:00.1Z')
  assert.equal(formatGoTime(Date.UTC(2024, 4, 1, 10, 5, 0, 123)), '2024-05-01T10:05:00.123Z')
})
