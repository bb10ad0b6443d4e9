/**
 * SortedKeys: UTF-8 byte order (checked against Buffer.compare), and random inserts/deletes
 * against a plain sorted array, across enough keys to split and empty many chunks.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compareKeys, SortedKeys } from '../../../src/fsm/tables/sorted-keys.js'
import { SeededPrng } from '../../../src/util/prng.js'

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

function randomKey (prng: SeededPrng): string {
  const alphabet = ['a', 'b', '/', 'z', 'é', '\ue000', '\uffff', '😀', '𝄞', '0']
  let key = ''
  const length = prng.nextInt(6)
  for (let position = 0; position < length; position += 1) key += alphabet[prng.nextInt(alphabet.length)]
  return key
}

test('compareKeys orders like UTF-8 bytes', () => {
  const prng = new SeededPrng(3)
  for (let round = 0; round < 5000; round += 1) {
    const a = randomKey(prng)
    const b = randomKey(prng)
    assert.equal(Math.sign(compareKeys(a, b)), Math.sign(byBytes(a, b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`)
  }
})

test('random inserts and deletes match a sorted array', () => {
  const prng = new SeededPrng(4)
  const set = new SortedKeys()
  const reference = new Set<string>()
  for (let step = 0; step < 20000; step += 1) {
    const key = `k${prng.nextInt(3000)}/${prng.nextInt(3)}`
    const inserting = step < 12000 ? prng.nextInt(3) > 0 : prng.nextInt(3) === 0
    if (inserting) assert.equal(set.insert(key), !reference.has(key))
    else assert.equal(set.delete(key), reference.has(key))
    if (inserting) reference.add(key)
    else reference.delete(key)
    if (step % 1000 === 0) {
      const sorted = [...reference].sort(byBytes)
      assert.deepEqual([...set.all()], sorted, `step ${step}`)
      assert.equal(set.size, sorted.length)
      const prefix = `k${prng.nextInt(30)}`
      assert.deepEqual(set.withPrefix(prefix), sorted.filter(key => key.startsWith(prefix)))
    }
  }
})

test('afterPrefix skips exactly the keys with the prefix', () => {
  const set = new SortedKeys()
  for (const key of ['a', 'a/', 'a/b', 'a/b/c', 'a/c', 'a0', 'b']) set.insert(key)
  assert.equal(set.at(set.afterPrefix('a/')), 'a0')
  assert.equal(set.at(set.afterPrefix('a/b')), 'a/c')
  assert.equal(set.at(set.afterPrefix('a')), 'b')
  assert.equal(set.at(set.afterPrefix('b')), undefined)
  assert.equal(set.at(set.afterPrefix('0')), 'a')
  assert.equal(set.has('a/b'), true)
  assert.equal(set.has('a/x'), false)
})
