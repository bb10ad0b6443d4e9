/**
 * Go duration parsing and formatting against the outputs of Go's time.ParseDuration and
 * Duration.String for the same inputs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatGoDuration, parseGoDurationNs } from '../../../src/util/go-duration.js'

test('parses what time.ParseDuration accepts', () => {
  const cases: Array<[string, number]> = [
    ['0', 0], ['0s', 0], ['10s', 10e9], ['1m30s', 90e9], ['500ms', 500e6], ['1.5h', 5400e9], ['.5s', 500e6],
    ['1.s', 1e9], ['-1s', -1e9], ['+2m', 120e9], ['1h2m3s4ms5us6ns', 3723004005006], ['3\u00b5s', 3000], ['3\u03bcs', 3000]
  ]
  for (const [text, expectedNs] of cases) assert.equal(parseGoDurationNs(text), expectedNs, text)
})

test('rejects what time.ParseDuration rejects', () => {
  for (const text of ['', '10', 's', '.s', '1x', '1 s', 'abc', '1s ', '-', '1.2.3s', '1sm', '9999999999h']) {
    assert.equal(parseGoDurationNs(text), null, text)
  }
})

test('formats like Duration.String', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'], [1, '1ns'], [1500, '1.5\u00b5s'], [500e6, '500ms'], [1.5e6, '1.5ms'], [1e9, '1s'], [1.5e9, '1.5s'],
    [60e9, '1m0s'], [90e9, '1m30s'], [3600e9, '1h0m0s'], [72 * 3600e9, '72h0m0s'], [3723004005006, '1h2m3.004005006s'], [-90e9, '-1m30s']
  ]
  for (const [durationNs, expected] of cases) assert.equal(formatGoDuration(durationNs), expected, String(durationNs))
})
