/**
 * Starts the real fastify HTTP API on 127.0.0.1:0 against the in-memory ServerApi and a small
 * AgentApi double, with a pino logger that writes into memory so tests can read the log lines
 * (e.g. to prove a token never reaches them). Tests talk to it with fetch.
 *
 * Callers: test/unit/api/*.test.ts.
 */
import type { TestContext } from 'node:test'
import { pino } from 'pino'
import { createHttpApi, type HttpApi } from '../../src/api/server.js'
import type { AgentApi, AgentCallOptions, AgentMember, AgentSelf, CachedResult, HttpApiOptions, IssuedCert } from '../../src/api/types.js'
import type { ConnectAuthorizeReply, ConnectAuthorizeRequest } from '../../src/api/types.js' // Intentions (#4)
import type { CaRootsReply, QueryOptions } from '../../src/rpc/types.js'
import type { KeyringCommand, KeyringResponse } from '../../src/gossip/keyring.js'
import { ControlPlaneError } from '../../src/util/errors.js'
import { MemoryServerApi } from './api-memory-server.js'
import { testLocalServices } from './local-services.js' // Agent services (#5/#6)

export const member: AgentMember = {
  Name: 'alpha',
  Addr: '127.0.0.1',
  Port: 8301,
  Tags: { role: 'consul', dc: 'dc1', port: '8300', build: '1.17.0:ts0001', vsn: '2', vsn_min: '2', vsn_max: '3', raft_vsn: '3' },
  Status: 1,
  ProtocolMin: 1,
  ProtocolMax: 5,
  ProtocolCur: 2,
  DelegateMin: 2,
  DelegateMax: 5,
  DelegateCur: 4
}

export class MemoryAgentApi implements AgentApi {
  readonly calls: Array<{ method: string, args: readonly unknown[] }> = []

  async self (call: AgentCallOptions): Promise<AgentSelf> {
    this.calls.push({ method: 'self', args: [call] })
    return {
      Config: { Datacenter: 'dc1', PrimaryDatacenter: 'dc1', NodeName: 'alpha', NodeID: 'a1b2c3d4-0000-0000-0000-000000000001', Revision: 'ts0001', Server: true, Version: '1.17.0', BuildDate: '2024-01-01T00:00:00Z' },
      DebugConfig: { Bootstrap: true },
      Coord: null,
      Member: member,
      Stats: { consul: { server: 'true', leader: 'true' } },
      Meta: { 'consul-network-segment': '', 'consul-version': '1.17.0' }
    }
  }

  async members (options: { readonly wan: boolean }, call: AgentCallOptions): Promise<readonly AgentMember[]> {
    this.calls.push({ method: 'members', args: [options, call] })
    return [member]
  }

  /** "unreachable:8301" fails the way a real join does. */
  async join (address: string, options: { readonly wan: boolean }, call: AgentCallOptions): Promise<void> {
    this.calls.push({ method: 'join', args: [address, options, call] })
    if (address === 'unreachable:8301') throw new ControlPlaneError('ERR_TRANSPORT', 'dial tcp 10.9.9.9:8301: connect: connection refused')
  }

  async leave (call: AgentCallOptions): Promise<void> {
    this.calls.push({ method: 'leave', args: [call] })
  }

  async reload (call: AgentCallOptions): Promise<void> {
    this.calls.push({ method: 'reload', args: [call] })
  }

  // Connect (#4): settable answers.
  connectRootsValue: CachedResult<CaRootsReply> = { value: { ActiveRootID: '', TrustDomain: '', Roots: [] }, index: 1, hit: true }
  connectLeafValue: CachedResult<IssuedCert> | null = null

  async connectCaRoots (query: QueryOptions): Promise<CachedResult<CaRootsReply>> {
    this.calls.push({ method: 'connectCaRoots', args: [query] })
    return this.connectRootsValue
  }

  async connectCaLeaf (service: string, query: QueryOptions): Promise<CachedResult<IssuedCert>> {
    this.calls.push({ method: 'connectCaLeaf', args: [service, query] })
    if (this.connectLeafValue === null) throw new ControlPlaneError('ERR_REJECTED', 'cluster has no CA bootstrapped yet')
    return this.connectLeafValue
  }

  // Intentions (#4): a settable answer; the decision itself is tested with the real cache.
  connectAuthorizeValue: ConnectAuthorizeReply = { Authorized: true, Reason: 'ACLs disabled, access is allowed by default' }

  async connectAuthorize (request: ConnectAuthorizeRequest, call: AgentCallOptions): Promise<ConnectAuthorizeReply> {
    this.calls.push({ method: 'connectAuthorize', args: [request, call] })
    return this.connectAuthorizeValue
  }

  // Agent services (#5/#6): the real local services (not started: no anti-entropy), so handler
  // tests see real validation, sidecar expansion and check state.
  readonly services = testLocalServices()

  // Keyring (#5): a settable answer; operations are recorded.
  keyringValue: KeyringResponse[] = [{ WAN: false, Datacenter: 'dc1', Segment: '', Keys: {}, PrimaryKeys: {}, NumNodes: 1 }]

  async keyringList (call: AgentCallOptions): Promise<readonly KeyringResponse[]> {
    this.calls.push({ method: 'keyringList', args: [call] })
    return this.keyringValue
  }

  async keyringOperate (command: KeyringCommand, call: AgentCallOptions): Promise<void> {
    this.calls.push({ method: 'keyringOperate', args: [command, call] })
  }
}

export interface ApiHarness {
  readonly base: string
  readonly server: MemoryServerApi
  readonly agent: MemoryAgentApi
  readonly logLines: string[]
  readonly api: HttpApi
  close (): Promise<void>
}

export type HarnessOptions = Partial<Omit<HttpApiOptions, 'serverApi' | 'agentApi' | 'logger'>>

export async function startApi (options: HarnessOptions = {}): Promise<ApiHarness> {
  const server = new MemoryServerApi()
  const agent = new MemoryAgentApi()
  const logLines: string[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logLines.push(line) } })
  const api = createHttpApi({ serverApi: server, agentApi: agent, logger, pretty: false, random: () => 0, ...options })
  const bound = await api.listen('127.0.0.1', 0)
  const close = async (): Promise<void> => {
    await api.close()
    server.releaseWaiters()
    await agent.services.stop() // Agent services (#5/#6)
  }
  return { base: `http://127.0.0.1:${bound.port}`, server, agent, logLines, api, close }
}

/** startApi, closed when the test ends. */
export async function startApiFor (t: TestContext, options: HarnessOptions = {}): Promise<ApiHarness> {
  const harness = await startApi(options)
  t.after(async () => { await harness.close() })
  return harness
}

export interface TextResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

/** fetch and read the body as text (bodies are small in these tests). */
export async function request (url: string, init: RequestInit = {}): Promise<TextResponse> {
  const response = await fetch(url, init)
  return { status: response.status, headers: response.headers, text: await response.text() }
}

export async function requestJson (url: string, init: RequestInit = {}): Promise<{ status: number, headers: Headers, json: unknown }> {
  const response = await request(url, init)
  return { status: response.status, headers: response.headers, json: JSON.parse(response.text) as unknown }
}
