/**
 * Upstream endpoints from /v1/health/connect answers and the order a connection tries them
 * (src/proxy/selection.ts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { endpointsFromHealth, RoundRobin } from '../../../src/proxy/selection.js'

function entry (o: { node: string, nodeAddress: string, id: string, kind?: string, service: string, destination?: string, address?: string, port: number, native?: boolean }): unknown {
  return {
    Node: { Node: o.node, Address: o.nodeAddress, Datacenter: 'dc1' },
    Service: {
      ...(o.kind !== undefined ? { Kind: o.kind } : {}), ID: o.id, Service: o.service, Address: o.address ?? '', Port: o.port,
      Proxy: o.destination !== undefined ? { DestinationServiceName: o.destination } : {}, Connect: o.native === true ? { Native: true } : {}
    },
    Checks: []
  }
}

test('endpointsFromHealth: proxies expect their destination identity, natives their own; address falls back to the node', () => {
  const endpoints = endpointsFromHealth([
    entry({ node: 'n1', nodeAddress: '10.0.0.1', id: 'socat-sidecar-proxy', kind: 'connect-proxy', service: 'socat-sidecar-proxy', destination: 'socat', port: 21000 }),
    entry({ node: 'n2', nodeAddress: '10.0.0.2', id: 'socat', service: 'socat', native: true, address: '10.0.9.9', port: 8443 })
  ], 'socat')
  assert.deepEqual(endpoints, [
    { id: 'n1/socat-sidecar-proxy', address: '10.0.0.1', port: 21000, service: 'socat', datacenter: 'dc1' },
    { id: 'n2/socat', address: '10.0.9.9', port: 8443, service: 'socat', datacenter: 'dc1' }
  ])
})

test('endpointsFromHealth skips entries without a usable port or address, or for another destination', () => {
  assert.deepEqual(endpointsFromHealth(null, 'socat'), [])
  assert.deepEqual(endpointsFromHealth([
    entry({ node: 'n1', nodeAddress: '10.0.0.1', id: 'p0', kind: 'connect-proxy', service: 'p', destination: 'socat', port: 0 }),
    entry({ node: 'n1', nodeAddress: '', id: 'p1', kind: 'connect-proxy', service: 'p', destination: 'socat', port: 21000 }),
    entry({ node: 'n1', nodeAddress: '10.0.0.1', id: 'p2', kind: 'connect-proxy', service: 'p', destination: 'db', port: 21001 }),
    entry({ node: 'n1', nodeAddress: '10.0.0.1', id: 'p3', kind: 'connect-proxy', service: 'p', port: 21002 }),
    { Node: 'garbage' }
  ], 'socat'), [])
})

test('RoundRobin spreads connections over every endpoint and bounds the attempts of one connection', () => {
  const order = new RoundRobin(() => 0)
  const endpoints = ['a', 'b', 'c']
  assert.deepEqual(order.next(endpoints, 3), ['a', 'b', 'c'])
  assert.deepEqual(order.next(endpoints, 3), ['b', 'c', 'a'], 'the next connection starts one further')
  assert.deepEqual(order.next(endpoints, 2), ['c', 'a'], 'at most attemptsMax endpoints')
  assert.deepEqual(order.next([], 3), [])
  assert.deepEqual(order.next(['only'], 0), ['only'], 'always at least one attempt')
  const counts = new Map<string, number>()
  const spread = new RoundRobin(() => 0.37)
  for (let i = 0; i < 300; i += 1) {
    const first = spread.next(endpoints, 1)[0] as string
    counts.set(first, (counts.get(first) ?? 0) + 1)
  }
  assert.deepEqual([...counts.values()], [100, 100, 100])
})
