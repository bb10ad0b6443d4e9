/**
 * Command parsers (pure): arguments and flags to request objects, and the usage errors Consul
 * gives for bad combinations.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseKvDelete } from '../../../cmd/commands/kv-delete.js'
import { parseKvGet } from '../../../cmd/commands/kv-get.js'
import { decodeBase64Strict, parseDataArgument, parseKvPut } from '../../../cmd/commands/kv-put.js'
import { parseMembersArgs } from '../../../cmd/commands/members.js'
import { parseSnapshotSave } from '../../../cmd/commands/snapshot-save.js'
import { isCliError } from '../../../cmd/errors.js'
import { parseUintFlag } from '../../../cmd/flags.js'

type Flags = Map<string, string | boolean | number>
const input = (args: string[], flags: Flags = new Map()) => ({ args, flags })
const usage = (message: string) => (err: unknown) => isCliError(err, 'ERR_USAGE') && err.message === message

test('kv get: key, leading slash stripped, modes and defaults', () => {
  assert.deepEqual(parseKvGet(input(['/a/b'])), { key: 'a/b', mode: 'value', separator: '/', detailed: false, base64: false, stale: false })
  assert.equal(parseKvGet(input([], new Map([['recurse', true]]))).mode, 'recurse')
  assert.equal(parseKvGet(input(['p'], new Map([['recurse', true], ['keys', true]]))).mode, 'keys')
  assert.equal(parseKvGet(input(['p'], new Map<string, string | boolean | number>([['keys', true], ['separator', '']]))).separator, '')
  assert.throws(() => parseKvGet(input([])), usage('Error! Missing KEY argument'))
  assert.throws(() => parseKvGet(input(['a', 'b'])), usage('Too many arguments (expected 1, got 2)'))
})

test('kv put: data sources and write kinds', () => {
  assert.deepEqual(parseDataArgument(undefined), { kind: 'literal', text: '' })
  assert.deepEqual(parseDataArgument('@f.txt'), { kind: 'file', path: 'f.txt' })
  assert.deepEqual(parseDataArgument('-'), { kind: 'stdin' })
  assert.deepEqual(parseDataArgument('-5'), { kind: 'literal', text: '-5' })
  assert.deepEqual(parseKvPut(input(['k', 'v'], new Map<string, string | boolean | number>([['cas', true], ['modify-index', 0]]))).write,
    { kind: 'cas', modifyIndex: 0 })
  assert.deepEqual(parseKvPut(input(['k'], new Map<string, string | boolean | number>([['acquire', true], ['session', 's']]))).write,
    { kind: 'acquire', session: 's' })
  assert.throws(() => parseKvPut(input(['k'], new Map([['cas', true]]))), usage('Must specify -modify-index with -cas!'))
  assert.throws(() => parseKvPut(input(['k'], new Map([['modify-index', 4]]))), usage('Cannot specify -modify-index without -cas!'))
  assert.throws(() => parseKvPut(input(['k'], new Map([['release', true]]))), usage('Error! Missing -session (required with -acquire and -release)'))
  assert.throws(() => parseKvPut(input(['a', 'b', 'c'])), usage('Error! Too many arguments (expected 1 or 2, got 3)'))
})

test('kv put -base64 decodes like Go\'s StdEncoding', () => {
  assert.deepEqual(decodeBase64Strict('aGk='), { ok: true, bytes: Buffer.from('hi') })
  assert.deepEqual(decodeBase64Strict('aG\nk='), { ok: true, bytes: Buffer.from('hi') })
  assert.deepEqual(decodeBase64Strict('aGk'), { ok: false, offset: 0 })
  assert.deepEqual(decodeBase64Strict('aG*='), { ok: false, offset: 2 })
  assert.deepEqual(decodeBase64Strict('a=Gk'), { ok: false, offset: 1 })
})

test('kv delete: combinations Consul refuses', () => {
  assert.deepEqual(parseKvDelete(input(['k'])), { key: 'k', delete: { kind: 'key' } })
  assert.deepEqual(parseKvDelete(input([], new Map([['recurse', true]]))), { key: '', delete: { kind: 'prefix' } })
  assert.throws(() => parseKvDelete(input([])), usage('Error! Missing KEY argument'))
  assert.throws(() => parseKvDelete(input(['k'], new Map([['cas', true]]))),
    usage('Cannot delete a key that does not exist. Provide a -modify-index greater than 0.'))
  assert.throws(() => parseKvDelete(input(['k'], new Map([['modify-index', 3]]))), usage('Cannot specify -modify-index without -cas!'))
  assert.throws(() => parseKvDelete(input(['k'], new Map<string, string | boolean | number>([['cas', true], ['modify-index', 3], ['recurse', true]]))),
    usage('Cannot specify both -cas and -recurse!'))
})

test('members, snapshot save and uint flags', () => {
  assert.equal(parseMembersArgs(input([])).status.source, '.*')
  assert.throws(() => parseMembersArgs(input(['x'])), usage('Too many arguments (expected 0, got 1)'))
  assert.throws(() => parseSnapshotSave(input([])), usage('Missing FILE argument'))
  assert.equal(parseUintFlag('flags', '42'), 42)
  assert.throws(() => parseUintFlag('flags', '-1'), usage('invalid value "-1" for flag -flags: expected an unsigned integer'))
  assert.throws(() => parseUintFlag('flags', '9007199254740993'), usage('invalid value "9007199254740993" for flag -flags: must be at most 9007199254740991'))
})
