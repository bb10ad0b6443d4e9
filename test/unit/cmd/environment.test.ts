/**
 * Agent address and token resolution (cmd/environment.ts): flag over WEFT_* over CONSUL_* over
 * the default, host:port without a scheme, and clear errors for addresses we cannot use.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizeAgentAddress, readCliEnvironment, resolveClientSettings } from '../../../cmd/environment.js'
import { isCliError } from '../../../cmd/errors.js'

const noFlags = new Map<string, string | boolean | number>()

test('the default address is http://127.0.0.1:8500', () => {
  const settings = resolveClientSettings(noFlags, readCliEnvironment({}))
  assert.equal(settings.baseUrl, 'http://127.0.0.1:8500')
  assert.deepEqual(settings.token, { kind: 'none' })
})

test('-http-addr beats WEFT_HTTP_ADDR, which beats CONSUL_HTTP_ADDR; empty variables count as unset', () => {
  const env = readCliEnvironment({ CONSUL_HTTP_ADDR: '10.0.0.1:8500', WEFT_HTTP_ADDR: '10.0.0.2:8500' })
  assert.equal(resolveClientSettings(noFlags, env).baseUrl, 'http://10.0.0.2:8500')
  assert.equal(resolveClientSettings(new Map([['http-addr', 'https://10.0.0.3:8501']]), env).baseUrl, 'https://10.0.0.3:8501')
  const consulOnly = readCliEnvironment({ CONSUL_HTTP_ADDR: '10.0.0.1:8500', WEFT_HTTP_ADDR: '' })
  assert.equal(resolveClientSettings(noFlags, consulOnly).baseUrl, 'http://10.0.0.1:8500')
})

test('addresses: host:port gets a scheme, CONSUL_HTTP_SSL picks https, trailing slash dropped', () => {
  assert.equal(normalizeAgentAddress('127.0.0.1:8500', { ssl: false, source: 'x' }), 'http://127.0.0.1:8500')
  assert.equal(normalizeAgentAddress('localhost:8501', { ssl: true, source: 'x' }), 'https://localhost:8501')
  assert.equal(normalizeAgentAddress('http://[::1]:8500/', { ssl: false, source: 'x' }), 'http://[::1]:8500')
  const env = readCliEnvironment({ CONSUL_HTTP_ADDR: 'agent.example:8501', CONSUL_HTTP_SSL: 'true' })
  assert.equal(resolveClientSettings(noFlags, env).baseUrl, 'https://agent.example:8501')
})

test('unusable addresses are usage errors that say where the value came from', () => {
  const expectUsage = (address: string, pattern: RegExp): void => {
    assert.throws(() => normalizeAgentAddress(address, { ssl: false, source: '-http-addr' }),
      (err: unknown) => isCliError(err, 'ERR_USAGE') && pattern.test(err.message))
  }
  expectUsage('unix:///tmp/consul.sock', /^-http-addr "unix:\/\/\/tmp\/consul.sock": unix socket addresses are not supported/)
  expectUsage('ftp://host:21', /unsupported scheme ftp/)
  expectUsage('http://host:8500/v1', /no path/)
  expectUsage('http://', /not a valid address/)
})

test('token precedence: -token, -token-file, *_HTTP_TOKEN_FILE, *_HTTP_TOKEN', () => {
  const env = readCliEnvironment({ CONSUL_HTTP_TOKEN: 'env', CONSUL_HTTP_TOKEN_FILE: '/env/file' })
  assert.deepEqual(resolveClientSettings(new Map([['token', 'flag'], ['token-file', '/f']]), env).token, { kind: 'value', token: 'flag' })
  assert.deepEqual(resolveClientSettings(new Map([['token-file', '/f']]), env).token, { kind: 'file', path: '/f' })
  assert.deepEqual(resolveClientSettings(noFlags, env).token, { kind: 'file', path: '/env/file' })
  assert.deepEqual(resolveClientSettings(noFlags, readCliEnvironment({ WEFT_HTTP_TOKEN: 'w', CONSUL_HTTP_TOKEN: 'c' })).token, { kind: 'value', token: 'w' })
})

test('the environment is read once into a frozen object', () => {
  const env = readCliEnvironment({ CONSUL_HTTP_AUTH: 'user:pass' })
  assert.equal(Object.isFrozen(env), true)
  assert.equal(env.httpAuth, 'user:pass')
})
