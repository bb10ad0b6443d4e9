/** Value formats: Go durations, gossip keys, join addresses, private IPv4 ranges. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { gossipKey, joinAddress, parseGoDurationMs } from '../../../src/config/values.js'
import { isPrivateIpv4 } from '../../../src/config/load.js'

test('parseGoDurationMs follows time.ParseDuration for non-negative values', () => {
  const cases: Array<[string, number | null]> = [
    ['0', 0], ['30s', 30_000], ['1m30s', 90_000], ['1h', 3_600_000], ['500ms', 500], ['1.5s', 1500],
    ['.5s', 500], ['100us', 0.1], ['100µs', 0.1], ['2h45m', 9_900_000],
    ['', null], ['30', null], ['s', null], ['1x', null], ['-1s', null], ['1s ', null], ['1 s', null]
  ]
  for (const [text, expected] of cases) assert.equal(parseGoDurationMs(text), expected, text)
})

test('gossipKey accepts standard base64 of 16, 24 and 32 bytes only', () => {
  for (const size of [16, 24, 32]) assert.equal(gossipKey(Buffer.alloc(size, 9).toString('base64')), null, String(size))
  assert.equal(gossipKey(Buffer.alloc(20).toString('base64'))?.detail, 'it decodes to 20 bytes')
  assert.equal(gossipKey(Buffer.alloc(16).toString('base64url').replace(/=+$/, ''))?.detail, 'not valid standard base64')
  assert.equal(gossipKey('pK9m@@@@')?.detail, 'not valid standard base64')
})

test('joinAddress accepts hosts, host:port and IPv6 forms', () => {
  for (const ok of ['10.0.0.1', '10.0.0.1:8301', 'server-2', 's1.example.com', 's1.example.com:8301', '::1', 'fe80::1', '[::1]:8301', '[fe80::1]']) {
    assert.equal(joinAddress(ok), null, ok)
  }
  for (const bad of ['', 'a b', 'host:', 'host:0', '[::1]:70000', '[10.0.0.1]:1', '-host', 'provider=aws tag_key=x']) {
    assert.notEqual(joinAddress(bad), null, bad)
  }
})

test('isPrivateIpv4: RFC 1918 and 100.64/10', () => {
  for (const address of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.1', '100.64.0.1', '100.127.0.1']) assert.ok(isPrivateIpv4(address), address)
  for (const address of ['172.15.0.1', '172.32.0.1', '192.169.0.1', '8.8.8.8', '127.0.0.1', '100.128.0.1', '::1']) assert.ok(!isPrivateIpv4(address), address)
})
