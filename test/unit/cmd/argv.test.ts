/**
 * Go `flag` semantics → commander argv (cmd/argv.ts): single and double dashes, `=value` and
 * separate values, booleans with `=false`, the stop at the first positional argument and at
 * `--`, and Go's wording for bad flags.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { matchCommandPath, normalizeArgs } from '../../../cmd/argv.js'
import { isCliError } from '../../../cmd/errors.js'
import type { FlagSpec } from '../../../cmd/flags.js'

const specs: FlagSpec[] = [
  { name: 'recurse', kind: 'boolean', description: '' },
  { name: 'cas', kind: 'boolean', description: '' },
  { name: 'modify-index', kind: 'uint', description: '' },
  { name: 'http-addr', kind: 'string', description: '' }
]

test('single-dash and double-dash flags become --name and --name=value', () => {
  assert.deepEqual(normalizeArgs(['-recurse', '--cas', '-modify-index=5', '--http-addr=127.0.0.1:8500'], specs),
    ['--recurse', '--cas', '--modify-index=5', '--http-addr=127.0.0.1:8500'])
})

test('a value flag takes the next word as its value, even one starting with a dash', () => {
  assert.deepEqual(normalizeArgs(['-modify-index', '5', '-http-addr', '-weird', 'key'], specs),
    ['--modify-index=5', '--http-addr=-weird', '--', 'key'])
})

test('parsing stops at the first positional argument; later words stay positional', () => {
  assert.deepEqual(normalizeArgs(['-cas', 'key', '-recurse', '-5'], specs), ['--cas', '--', 'key', '-recurse', '-5'])
  assert.deepEqual(normalizeArgs(['key'], specs), ['--', 'key'])
  assert.deepEqual(normalizeArgs([], specs), [])
})

test('a lone dash is positional (stdin for kv put) and -- ends the flags', () => {
  assert.deepEqual(normalizeArgs(['-cas', 'key', '-'], specs), ['--cas', '--', 'key', '-'])
  assert.deepEqual(normalizeArgs(['-'], specs), ['--', '-'])
  assert.deepEqual(normalizeArgs(['-recurse', '--', '-not-a-flag'], specs), ['--recurse', '--', '-not-a-flag'])
})

test('booleans accept Go\'s true/false words; a later =false cancels an earlier flag', () => {
  assert.deepEqual(normalizeArgs(['-recurse=true'], specs), ['--recurse'])
  assert.deepEqual(normalizeArgs(['-recurse=1', '-cas=T'], specs), ['--recurse', '--cas'])
  assert.deepEqual(normalizeArgs(['-recurse', '-recurse=false', '-cas=0'], specs), [])
})

test('-h, -help and --help ask for help', () => {
  assert.deepEqual(normalizeArgs(['-h'], specs), ['--help'])
  assert.deepEqual(normalizeArgs(['-help', 'key'], specs), ['--help', '--', 'key'])
})

test('bad flags are usage errors in Go\'s words', () => {
  const expectUsage = (args: string[], message: string): void => {
    assert.throws(() => normalizeArgs(args, specs), (err: unknown) => isCliError(err, 'ERR_USAGE') && err.message === message)
  }
  expectUsage(['-bogus'], 'flag provided but not defined: -bogus')
  expectUsage(['--bogus=1'], 'flag provided but not defined: -bogus')
  expectUsage(['-modify-index'], 'flag needs an argument: -modify-index')
  expectUsage(['-recurse=maybe'], 'invalid boolean value "maybe" for -recurse: parse error')
  expectUsage(['---recurse'], 'bad flag syntax: ---recurse')
  expectUsage(['-=x'], 'bad flag syntax: -=x')
})

test('matchCommandPath picks the longest matching command path', () => {
  const commands = [{ path: ['kv', 'get'] }, { path: ['operator', 'raft', 'list-peers'] }, { path: ['members'] }]
  assert.deepEqual(matchCommandPath(['kv', 'get', '-recurse', 'a'], commands), { command: commands[0], rest: ['-recurse', 'a'] })
  assert.deepEqual(matchCommandPath(['operator', 'raft', 'list-peers'], commands), { command: commands[1], rest: [] })
  assert.equal(matchCommandPath(['kv'], commands), undefined)
  assert.equal(matchCommandPath(['operator', 'raft'], commands), undefined)
  assert.equal(matchCommandPath(['nope'], commands), undefined)
})
