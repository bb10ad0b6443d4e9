/**
 * Output formatters: columnize and tabwriter layouts, the members and list-peers tables, the
 * kv get -detailed block, and fixed messages (spec §15.2).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AgentMember, DirEntry, RaftServer } from '../../../cmd/api-types.js'
import { alignLabels, columnize } from '../../../cmd/format.js'
import { formatJoined } from '../../../cmd/commands/join.js'
import { formatKvDetailed, formatKvList } from '../../../cmd/commands/kv-get.js'
import { formatMembers, formatMembersDetailed, memberAddress, memberStatusName, selectMembers } from '../../../cmd/commands/members.js'
import { formatRaftPeers } from '../../../cmd/commands/operator-raft-list-peers.js'
import { formatPeerRemoved } from '../../../cmd/commands/operator-raft-remove-peer.js'
import { formatVersion } from '../../../cmd/commands/version.js'

test('columnize pads every column but the last to its widest cell, with two-space glue', () => {
  assert.equal(columnize([['a', 'bb', 'c'], ['dddd', 'e', 'ffff']]), 'a     bb  c\ndddd  e   ffff')
  assert.equal(columnize([[' x ', 'y']]), 'x  y') // cells are trimmed
  assert.equal(columnize([['a', 'b', ''], ['c', 'd', '']]), 'a  b  \nc  d  ') // empty last cells still get the glue before them
})

test('alignLabels pads labels to the longest plus six, like tabwriter(0, 2, 6)', () => {
  assert.equal(Buffer.from(alignLabels([['Key', 'k'], ['LongerLabel', 'v']])).toString(), 'Key              k\nLongerLabel      v')
})

const entry = (key: string, value: string, extra: Partial<DirEntry> = {}): DirEntry => ({
  key, value: Buffer.from(value), flags: 0, createIndex: 5, modifyIndex: 9, lockIndex: 0, session: undefined, ...extra
})

test('kv get -detailed block', () => {
  const text = Buffer.from(formatKvDetailed(entry('a/b', 'hi', { flags: 3, session: 'sess-1' }), { base64: false })).toString()
  assert.equal(text, [
    'CreateIndex      5',
    'Flags            3',
    'Key              a/b',
    'LockIndex        0',
    'ModifyIndex      9',
    'Session          sess-1',
    'Value            hi'
  ].join('\n'))
  assert.match(Buffer.from(formatKvDetailed(entry('k', 'hi'), { base64: true })).toString(), /\nValue {12}aGk=$/)
})

test('kv get -recurse lines keep binary values byte for byte; -detailed blocks are separated by a blank line', () => {
  const binary = entry('bin', '')
  const withBytes = { ...binary, value: Uint8Array.from([0xff, 0x00, 0x0a]) }
  assert.deepEqual(Buffer.from(formatKvList([entry('a', '1'), withBytes], { detailed: false, base64: false })),
    Buffer.concat([Buffer.from('a:1\nbin:'), Buffer.from([0xff, 0x00, 0x0a]), Buffer.from('\n')]))
  const detailed = Buffer.from(formatKvList([entry('a', '1'), entry('b', '2')], { detailed: true, base64: false })).toString()
  assert.match(detailed, /Value {12}1\n\nCreateIndex/)
  assert.match(detailed, /Value {12}2\n$/)
})

const member = (name: string, role: string, status: number, extra: Record<string, string> = {}): AgentMember => ({
  name, addr: `10.0.0.${name.length}`, port: 8301, status, tags: { role, dc: 'dc1', build: '1.17.0:abc', vsn: '2', ...extra }
})

test('members table: servers first, then by name; partition and segment filled as Consul does', () => {
  const members = selectMembers([member('zed', 'consul', 1), member('bob', 'node', 1), member('al', 'consul', 3), member('odd', 'other', 4)],
    { status: /.*/, allSegments: true })
  assert.equal(formatMembers(members), [
    'Node  Address        Status  Type     Build   Protocol  DC   Partition  Segment',
    'al    10.0.0.2:8301  left    server   1.17.0  2         dc1  default    <all>',
    'zed   10.0.0.3:8301  alive   server   1.17.0  2         dc1  default    <all>',
    'bob   10.0.0.3:8301  alive   client   1.17.0  2         dc1  default    <default>',
    // An unknown role keeps its empty cells, each padded to its column, as columnize does.
    'odd   10.0.0.3:8301  failed  unknown  ' + ' '.repeat(6 + 2) + ' '.repeat(8 + 2) + ' '.repeat(3 + 2) + ' '.repeat(9 + 2)
  ].join('\n'))
})

test('members: missing build, IPv6 address, status names and filtering', () => {
  const noBuild: AgentMember = { name: 'n', addr: '::1', port: 8301, status: 2, tags: { role: 'node', dc: 'dc1', vsn: '2' } }
  assert.equal(memberAddress(noBuild), '[::1]:8301')
  assert.match(formatMembers(selectMembers([noBuild], { status: /.*/, allSegments: true })), /\nn {5}\[::1\]:8301 {2}leaving {2}client {2}< 0\.3 {2}2 /)
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(memberStatusName), ['none', 'alive', 'leaving', 'left', 'failed', 'unknown'])
  const members = [member('a', 'node', 1), member('b', 'node', 4)]
  assert.deepEqual(selectMembers(members, { status: /^failed$/, allSegments: true }).map(m => m.name), ['b'])
  assert.deepEqual(selectMembers(members, { status: /left/, allSegments: true }), [])
})

test('members -detailed: sorted k=v tags, comma-joined', () => {
  const members = selectMembers([member('a', 'consul', 1)], { status: /.*/, allSegments: true })
  assert.equal(formatMembersDetailed(members), [
    'Node  Address        Status  Tags',
    'a     10.0.0.1:8301  alive   build=1.17.0:abc,dc=dc1,partition=default,role=consul,segment=<all>,vsn=2'
  ].join('\n'))
})

test('operator raft list-peers table', () => {
  const servers: RaftServer[] = [
    { id: 'id-1', node: 'alpha', address: '127.0.0.1:8300', leader: true, voter: true, protocolVersion: '3', lastIndex: 57 },
    { id: 'id-2', node: 'beta', address: '127.0.0.2:8300', leader: false, voter: true, protocolVersion: '3', lastIndex: 57 },
    { id: 'id-3', node: 'c', address: '127.0.0.3:8300', leader: false, voter: false, protocolVersion: '', lastIndex: undefined }
  ]
  assert.equal(formatRaftPeers(servers), [
    'Node   ID    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By',
    'alpha  id-1  127.0.0.1:8300  leader    true   3             57            -',
    'beta   id-2  127.0.0.2:8300  follower  true   3             57            0 commits',
    'c      id-3  127.0.0.3:8300  follower  false  <=1           -             -'
  ].join('\n'))
})

test('fixed messages', () => {
  assert.equal(formatPeerRemoved({ by: 'address', address: '10.0.0.12:8300' }), 'Removed peer with address "10.0.0.12:8300"')
  assert.equal(formatPeerRemoved({ by: 'id', id: 'abc' }), 'Removed peer with id "abc"')
  assert.equal(formatJoined(1), 'Successfully joined cluster by contacting 1 nodes.')
  assert.equal(formatVersion('0.1.0'), 'weft v0.1.0\n' +
    'Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)')
})
