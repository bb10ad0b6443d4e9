/**
 * A tiny in-process HTTP server that answers the endpoints the CLI uses the way spec §2.2,
 * §9.1 and §10 say the agent does (bodies, statuses, X-Consul-Index), so the CLI tests run the
 * real `weft` binary against real HTTP without a cluster. It is a test double, not a model of
 * the agent: one flat KV map, fixed members and Raft configuration, no blocking queries.
 *
 * Listens on 127.0.0.1:0; `noLeader` makes every server-backed endpoint answer
 * `500 No cluster leader`. Every request is recorded for assertions.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly token: string | undefined
  readonly body: Buffer
}

interface KvRow { value: Buffer, flags: number, createIndex: number, modifyIndex: number, lockIndex: number }

export const fakeMembers = [
  {
    Name: 'beta', Addr: '127.0.0.2', Port: 8301, Status: 1,
    Tags: { role: 'node', dc: 'dc1', segment: '', id: 'b2', build: '1.17.0:ts0001', vsn: '2', vsn_min: '2', vsn_max: '3' },
    ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4
  },
  {
    Name: 'alpha', Addr: '127.0.0.1', Port: 8301, Status: 1,
    Tags: { role: 'consul', dc: 'dc1', segment: '', id: 'a1', port: '8300', bootstrap: '1', build: '1.17.0:ts0001', vsn: '2', vsn_min: '2', vsn_max: '3', raft_vsn: '3' },
    ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4
  },
  {
    Name: 'gamma', Addr: '127.0.0.3', Port: 8301, Status: 4,
    Tags: { role: 'node', dc: 'dc1', segment: '', id: 'c3', build: '1.17.0:ts0001', vsn: '2' },
    ProtocolMin: 1, ProtocolMax: 5, ProtocolCur: 2, DelegateMin: 2, DelegateMax: 5, DelegateCur: 4
  }
]

export const fakeRaftConfiguration = {
  Servers: [
    { ID: '6f1a2c9e-2b7d-4f0c-9d4a-1e5b7c3a9f10', Node: 'alpha', Address: '127.0.0.1:8300', Leader: true, ProtocolVersion: '3', Voter: true, LastIndex: 57 },
    { ID: '0b44d1f8-0d3a-4c6e-8f7e-6a1e3c9d2b55', Node: 'beta', Address: '127.0.0.2:8300', Leader: false, ProtocolVersion: '3', Voter: true, LastIndex: 56 },
    { ID: '9c0e7a51-4d2b-4a8f-b1c3-2e5f6a7b8c9d', Node: 'gamma', Address: '127.0.0.3:8300', Leader: false, ProtocolVersion: '3', Voter: false, LastIndex: 50 }
  ],
  Index: 57
}

export const fakeSnapshotBytes = Buffer.from('WEFTSNAP\u0001 fake snapshot payload for the CLI tests\n', 'utf8')

export class FakeAgent {
  readonly requests: RecordedRequest[] = []
  readonly kv = new Map<string, KvRow>()
  restoredSnapshot: Buffer | undefined
  noLeader = false
  private index = 1
  private server: Server | undefined

  /** `http://127.0.0.1:PORT` once started. */
  address = ''

  async start (): Promise<void> {
    const server = createServer((request, response) => { void this.handle(request, response) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    this.address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
  }

  /** Writes a key directly, as a committed write would, and returns its index. */
  seed (key: string, value: string, flags = 0): number {
    this.index += 1
    const existing = this.kv.get(key)
    this.kv.set(key, { value: Buffer.from(value), flags, createIndex: existing?.createIndex ?? this.index, modifyIndex: this.index, lockIndex: 0 })
    return this.index
  }

  private async handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const url = new URL(request.url ?? '/', 'http://fake')
    const token = request.headers['x-consul-token']
    this.requests.push({ method: request.method ?? '', url: request.url ?? '', token: typeof token === 'string' ? token : undefined, body })
    const path = url.pathname
    const method = request.method ?? 'GET'

    if (path === '/v1/agent/members' && method === 'GET') return json(response, 200, fakeMembers)
    if (path === '/v1/agent/leave' && method === 'PUT') return empty(response, 200)
    if (path.startsWith('/v1/agent/join/') && method === 'PUT') {
      const address = decodeURIComponent(path.slice('/v1/agent/join/'.length))
      if (address.startsWith('bad')) return text(response, 500, `1 error occurred:\n\t* Failed to join ${address}:8301: dial tcp: connection refused\n\n`)
      return empty(response, 200)
    }
    if (this.noLeader) return text(response, 500, 'No cluster leader')
    if (path.startsWith('/v1/kv/')) return this.handleKv(method, decodeURIComponent(path.slice('/v1/kv/'.length)), url.searchParams, body, response)
    if (path === '/v1/operator/raft/configuration' && method === 'GET') return json(response, 200, fakeRaftConfiguration)
    if (path === '/v1/operator/raft/peer' && method === 'DELETE') return this.handleRemovePeer(url.searchParams, response)
    if (path === '/v1/operator/raft/transfer-leader' && method === 'POST') return json(response, 200, { Success: true })
    if (path === '/v1/snapshot' && method === 'GET') {
      response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Consul-Index': '57' })
      response.end(fakeSnapshotBytes)
      return
    }
    if (path === '/v1/snapshot' && method === 'PUT') {
      this.restoredSnapshot = body
      return empty(response, 200)
    }
    text(response, 404, 'Invalid URL path: not a recognized HTTP API endpoint\n')
  }

  private handleKv (method: string, key: string, query: URLSearchParams, body: Buffer, response: ServerResponse): void {
    const headers = (): Record<string, string> => ({ 'X-Consul-Index': String(this.index) })
    if (method === 'GET') {
      if (query.has('keys')) {
        const separator = query.get('separator') ?? ''
        const keys = new Set<string>()
        for (const name of [...this.kv.keys()].sort()) {
          if (!name.startsWith(key)) continue
          const cut = separator === '' ? -1 : name.indexOf(separator, key.length)
          keys.add(cut < 0 ? name : name.slice(0, cut + separator.length))
        }
        if (keys.size === 0 && key !== '') return empty(response, 404, headers())
        return json(response, 200, [...keys], headers())
      }
      const names = query.has('recurse') ? [...this.kv.keys()].filter(name => name.startsWith(key)).sort() : this.kv.has(key) ? [key] : []
      if (names.length === 0) return empty(response, 404, headers())
      return json(response, 200, names.map(name => dirEntry(name, this.kv.get(name) as KvRow)), headers())
    }
    if (key === '' && !(method === 'DELETE' && query.has('recurse'))) return text(response, 400, 'Missing key name')
    if (method === 'PUT') {
      const existing = this.kv.get(key)
      const cas = query.get('cas')
      if (cas !== null && Number(cas) !== (existing?.modifyIndex ?? 0)) return json(response, 200, false, headers())
      this.index += 1
      this.kv.set(key, {
        value: body,
        flags: Number(query.get('flags') ?? '0'),
        createIndex: existing?.createIndex ?? this.index,
        modifyIndex: this.index,
        lockIndex: existing?.lockIndex ?? 0
      })
      return json(response, 200, true, headers())
    }
    if (method === 'DELETE') {
      const cas = query.get('cas')
      if (cas !== null && Number(cas) !== (this.kv.get(key)?.modifyIndex ?? 0)) return json(response, 200, false, headers())
      this.index += 1
      if (query.has('recurse')) {
        for (const name of [...this.kv.keys()]) if (name.startsWith(key)) this.kv.delete(name)
      } else {
        this.kv.delete(key)
      }
      return json(response, 200, true, headers())
    }
    response.writeHead(405, { Allow: 'OPTIONS,GET,PUT,DELETE', 'Content-Type': 'text/plain; charset=utf-8' })
    response.end(`method ${method} not allowed`)
  }

  private handleRemovePeer (query: URLSearchParams, response: ServerResponse): void {
    const id = query.get('id')
    const address = query.get('address')
    if (id === null && address === null) {
      return text(response, 400, "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
    }
    const known = fakeRaftConfiguration.Servers.some(server => server.ID === id || server.Address === address)
    if (!known) {
      return text(response, 500, address !== null ? `address "${address}" was not found in the Raft configuration` : `id "${id ?? ''}" was not found in the Raft configuration`)
    }
    empty(response, 200)
  }
}

function dirEntry (key: string, row: KvRow): Record<string, unknown> {
  return {
    LockIndex: row.lockIndex,
    Key: key,
    Flags: row.flags,
    Value: row.value.byteLength === 0 ? null : row.value.toString('base64'),
    CreateIndex: row.createIndex,
    ModifyIndex: row.modifyIndex
  }
}

function json (response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...headers, 'Content-Type': 'application/json' })
  response.end(JSON.stringify(body))
}

function text (response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
  response.end(body)
}

function empty (response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  response.writeHead(status, headers)
  response.end()
}
