/**
 * parseAgentArgs: Consul's Go-flag syntax (single or double dash, `=value` or a separate
 * value, booleans only with `=`), repeatable flags, config paths in command-line order, and
 * the syntax errors (unknown flag, missing value, stray argument, -hcl, -config-format=hcl).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { agentUsage, parseAgentArgs, type RawFlags } from '../../../src/config/load.js'

function flagsOf (argv: string[]): RawFlags {
  const parsed = parseAgentArgs(argv)
  assert.equal(parsed.kind, 'flags', JSON.stringify(parsed))
  return parsed as RawFlags
}

function errorOf (argv: string[]): { flag: string | null, message: string } {
  const parsed = parseAgentArgs(argv)
  assert.equal(parsed.kind, 'error', JSON.stringify(parsed))
  return parsed as { flag: string | null, message: string }
}

test('values with "=" or as the next argument, single or double dash', () => {
  const parsed = flagsOf(['-bootstrap-expect=3', '-data-dir', '/var/lib/weft', '--node', 's1', '--http-port=8501'])
  assert.deepEqual(parsed.flags, [
    { name: 'bootstrap-expect', spelled: '-bootstrap-expect', value: '3' },
    { name: 'data-dir', spelled: '-data-dir', value: '/var/lib/weft' },
    { name: 'node', spelled: '--node', value: 's1' },
    { name: 'http-port', spelled: '--http-port', value: '8501' }
  ])
})

test('booleans: bare means true, =false is kept as typed for the builder to convert', () => {
  const parsed = flagsOf(['-server', '-ui=false', '--dev'])
  assert.deepEqual(parsed.flags.map((flag) => [flag.name, flag.value]), [['server', 'true'], ['ui', 'false'], ['dev', 'true']])
})

test('a value may start with a dash and may be empty (Go takes the next argument as is)', () => {
  const parsed = flagsOf(['-http-port', '-1', '-encrypt='])
  assert.deepEqual(parsed.flags.map((flag) => flag.value), ['-1', ''])
})

test('repeatable flags keep every occurrence, in order', () => {
  const parsed = flagsOf(['-retry-join', '10.0.0.1', '-retry-join=10.0.0.2', '-join', 'c1'])
  assert.deepEqual(parsed.flags.map((flag) => `${flag.name}=${flag.value}`), ['retry-join=10.0.0.1', 'retry-join=10.0.0.2', 'join=c1'])
})

test('-config-file and -config-dir are collected in command-line order, not as flags', () => {
  const parsed = flagsOf(['-config-file', 'a.json', '-config-dir=/etc/weft.d', '--config-file', 'b.json'])
  assert.deepEqual(parsed.configPaths, [
    { kind: 'file', path: 'a.json', flag: '-config-file' },
    { kind: 'dir', path: '/etc/weft.d', flag: '-config-dir' },
    { kind: 'file', path: 'b.json', flag: '--config-file' }
  ])
  assert.deepEqual(parsed.flags, [])
  assert.equal(parsed.configFormat, null)
  assert.equal(flagsOf(['-config-format=json']).configFormat, 'json')
})

test('"--" ends the flags; nothing may follow it', () => {
  assert.deepEqual(flagsOf(['-server', '--']).flags.length, 1)
  assert.equal(errorOf(['-server', '--', 'x']).message, 'unexpected argument "x": weft agent takes only flags')
})

test('unknown flag names the flag as typed, with a suggestion when one is close', () => {
  assert.deepEqual(errorOf(['-server', '-bootstrap-expekt=3']), {
    kind: 'error', code: 'ERR_INVALID_INPUT', flag: '-bootstrap-expekt',
    message: 'flag provided but not defined: -bootstrap-expekt (did you mean -bootstrap-expect?)'
  })
  assert.equal(errorOf(['--frobnicate']).message, 'flag provided but not defined: --frobnicate')
})

test('a value flag at the end without its value', () => {
  assert.deepEqual(errorOf(['-server', '-data-dir']), {
    kind: 'error', code: 'ERR_INVALID_INPUT', flag: '-data-dir', message: 'flag needs an argument: -data-dir'
  })
})

test('"-server false" is a stray argument, with a hint to write -server=false', () => {
  assert.equal(errorOf(['-server', 'false']).message,
    'unexpected argument "false": weft agent takes only flags (boolean flags take their value with "=": -server=false)')
  assert.equal(errorOf(['-data-dir', '/d', 'extra']).message, 'unexpected argument "extra": weft agent takes only flags')
})

test('bad flag syntax', () => {
  assert.equal(errorOf(['---server']).message, 'bad flag syntax: ---server')
  assert.equal(errorOf(['-=3']).message, 'bad flag syntax: -=3')
})

test('-hcl and -config-format=hcl are refused with what to do instead', () => {
  assert.deepEqual(errorOf(['-hcl', 'server = true']), {
    kind: 'error', code: 'ERR_INVALID_INPUT', flag: '-hcl',
    message: '-hcl is not supported: weft reads JSON config only; put the settings in a .json file and pass -config-file FILE'
  })
  assert.equal(errorOf(['-config-format=hcl']).message, '-config-format=hcl is not supported: weft reads JSON config only')
  assert.equal(errorOf(['-config-format', 'yaml']).message, '-config-format must be "json", got "yaml"')
})

test('-h, -help and --help ask for usage', () => {
  for (const arg of ['-h', '-help', '--help']) assert.deepEqual(parseAgentArgs(['-server', arg]), { kind: 'help' })
  const usage = agentUsage()
  assert.match(usage, /^Usage: weft agent \[options\]/)
  assert.match(usage, /-bootstrap-expect <value>\n/)
  assert.match(usage, / {2}-server\n/)
  assert.doesNotMatch(usage, /^ {2}-hcl/m)
  assert.match(usage, /-hcl is not supported/)
})

test('ignored Consul flags parse (booleans and value flags) and are kept for a warning', () => {
  const parsed = flagsOf(['-syslog', '-log-file', '/var/log/weft.log', '-server'])
  assert.deepEqual(parsed.flags.map((flag) => flag.name), ['syslog', 'log-file', 'server'])
})
