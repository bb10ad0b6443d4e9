/**
 * The edge's validators: query parameter parsing as Go reads it, Go's url.Values.Encode for
 * Consul's "Conflicting flags" text, token redaction, and lenient body decoding (case-insensitive
 * keys, snake_case aliases, null as absent) with messages naming the field, value and expectation.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { redactUrl } from '../../../src/api/auth.js'
import { decodeObject, field, parseGoBool, parseUnsigned, QueryParams } from '../../../src/api/validate.js'
import { isControlPlaneError } from '../../../src/util/errors.js'

test('parseUnsigned reads decimal digits only and stays within safe integers', () => {
  assert.equal(parseUnsigned('0'), 0)
  assert.equal(parseUnsigned('0042'), 42)
  assert.equal(parseUnsigned('9007199254740991'), Number.MAX_SAFE_INTEGER)
  for (const text of ['', '-1', '+1', '1.0', ' 1', '1e3', '0x10', 'abc', '9007199254740992']) assert.equal(parseUnsigned(text), null, text)
})

test('parseGoBool accepts strconv.ParseBool spellings only', () => {
  for (const text of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parseGoBool(text), true)
  for (const text of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parseGoBool(text), false)
  for (const text of ['yes', 'tRUE', '', '2']) assert.equal(parseGoBool(text), null)
})

test('QueryParams keeps repeated values and encodes like url.Values.Encode', () => {
  const query = new QueryParams(Object.assign(Object.create(null) as object, { recurse: '', tag: ['b', 'a c'], cas: '1', token: 'secret', x: "!'()*" }))
  assert.equal(query.has('recurse'), true)
  assert.equal(query.get('recurse'), '')
  assert.equal(query.get('tag'), 'b')
  assert.deepEqual(query.all('tag'), ['b', 'a c'])
  assert.equal(query.get('missing'), null)
  assert.equal(query.encode(['token']), 'cas=1&recurse=&tag=b&tag=a+c&x=%21%27%28%29%2A')
})

test('redactUrl hides every token value and nothing else', () => {
  assert.equal(redactUrl('/v1/kv/a?token=s3cret&recurse'), '/v1/kv/a?token=<hidden>&recurse')
  assert.equal(redactUrl('/v1/kv/a?cas=1&token=x&token=y'), '/v1/kv/a?cas=1&token=<hidden>&token=<hidden>')
  assert.equal(redactUrl('/v1/kv/token?tokens=1'), '/v1/kv/token?tokens=1')
  assert.equal(redactUrl('/v1/kv/a'), '/v1/kv/a')
})

const schema = {
  Node: field.string,
  SkipNodeUpdate: field.boolean,
  NodeMeta: field.stringMap,
  Service: field.object({ Port: field.port, Tags: field.stringArray }),
  Checks: field.array(field.object({ Interval: field.duration }))
}

test('decodeObject matches keys case-insensitively and by snake_case alias; null is absent; unknown dropped', () => {
  const decoded = decodeObject({
    node: 'n1', skip_node_update: true, NODEMETA: { Env: 'prod' }, service: { port: 80, tags: null }, Checks: [{ interval: 10_000_000_000 }, { Interval: '1m30s' }], Other: 1
  }, schema, '')
  assert.deepEqual(decoded, { Node: 'n1', SkipNodeUpdate: true, NodeMeta: { Env: 'prod' }, Service: { Port: 80 }, Checks: [{ Interval: '10s' }, { Interval: '1m30s' }] })
})

test('decodeObject errors name the field path, the value and the expectation', () => {
  const cases: Array<[unknown, string]> = [
    [{ Service: { Port: '80a' } }, 'Service.Port must be an integer in 0..65535, got "80a"'],
    [{ Service: { Port: 70000 } }, 'Service.Port must be an integer in 0..65535, got 70000'],
    [{ Service: { Tags: ['a', 1] } }, 'Service.Tags[1] must be a string, got 1'],
    [{ Checks: [{}, { Interval: '10 seconds' }] }, 'Checks[1].Interval must be a duration such as "10s" or integer nanoseconds, got "10 seconds"'],
    [{ NodeMeta: { a: 1 } }, 'NodeMeta["a"] must be a string, got 1'],
    [{ SkipNodeUpdate: 'yes' }, 'SkipNodeUpdate must be a boolean, got "yes"'],
    [[1], 'the body must be a JSON object, got an array of 1']
  ]
  for (const [input, message] of cases) {
    assert.throws(() => decodeObject(input, schema, ''), (err: unknown) => isControlPlaneError(err, 'ERR_INVALID_INPUT') && err.message === message, message)
  }
})
