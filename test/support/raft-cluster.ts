/**
 * Builds real Raft nodes in one process for integration tests and the benchmark: LevelDB
 * storage in temp directories, ZeroMQ CURVE transports on 127.0.0.1 ephemeral ports, and a small
 * state machine that records every applied command. Nothing is mocked.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStorage } from '../../src/raft/level-storage.js'
import { ZmqTransport } from '../../src/raft/zmq-transport.js'
import { generateCurveKeyPair, type CurveKeyPair } from '../../src/raft/curve-keys.js'
import { RaftNode, formatPeerAddress, type NodeLogger, type RaftNodeOptions, type StateMachine } from '../../src/raft/node.js'
import type { Configuration, Entry, NodeId } from '../../src/raft/core/types.js'
import type { RaftStorage } from '../../src/raft/storage.js'

const decoder = new TextDecoder()

/** Records applied commands; apply returns `index:value` so tests can see results flow back. */
export class RecordingStateMachine implements StateMachine {
  values: Array<{ index: number, value: string }> = []

  apply (entry: Entry): unknown {
    const value = decoder.decode(entry.data)
    this.values.push({ index: entry.index, value })
    return `${entry.index}:${value}`
  }

  snapshot (): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.values))
  }

  restore (data: Uint8Array): void {
    this.values = JSON.parse(decoder.decode(data)) as Array<{ index: number, value: string }>
  }
}

export const quietLogger: NodeLogger = { debug () {}, info () {}, warn () {}, error () {} }

export interface TestNode {
  readonly id: NodeId
  readonly dir: string
  readonly keyPair: CurveKeyPair
  node: RaftNode
  machine: RecordingStateMachine
  storage: RaftStorage
  address: string
}

export interface ClusterOptions {
  readonly size: number
  readonly nodeOptions?: Partial<RaftNodeOptions>
  /** Wraps each node's storage (e.g. to slow it down). */
  readonly wrapStorage?: (storage: RaftStorage, id: NodeId) => RaftStorage
  readonly logger?: NodeLogger
}

export class TestCluster {
  readonly nodes = new Map<NodeId, TestNode>()
  private readonly dirs: string[] = []

  constructor (private readonly options: ClusterOptions) {}

  static async start (options: ClusterOptions): Promise<TestCluster> {
    const cluster = new TestCluster(options)
    const ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`)
    for (const id of ids) await cluster.create(id, { endpoint: 'tcp://127.0.0.1:0' })
    const addresses: Record<NodeId, string> = {}
    for (const test of cluster.nodes.values()) {
      const endpoint = await test.node.listen()
      test.address = formatPeerAddress({ endpoint, publicKey: test.keyPair.publicKey })
      addresses[test.id] = test.address
    }
    const bootstrap: Configuration = { voters: ids, learners: [], addresses }
    await Promise.all([...cluster.nodes.values()].map(async test => await test.node.start({ bootstrap })))
    return cluster
  }

  /** Creates (but does not start) a node; reuses its directory and key when it existed before. */
  async create (id: NodeId, options: { endpoint: string, knownPeers?: Record<NodeId, string> }): Promise<TestNode> {
    const previous = this.nodes.get(id)
    const dir = previous?.dir ?? await mkdtemp(join(tmpdir(), `weft-raft-${id}-`))
    if (previous === undefined) this.dirs.push(dir)
    const keyPair = previous?.keyPair ?? generateCurveKeyPair()
    const logger = this.options.logger ?? quietLogger
    const level = await LevelStorage.open({ path: join(dir, 'raft'), logger })
    const storage = this.options.wrapStorage?.(level, id) ?? level
    const transport = new ZmqTransport({ localId: id, bindEndpoint: options.endpoint, keyPair, logger })
    const machine = new RecordingStateMachine()
    const node = new RaftNode({
      id,
      storage,
      transport,
      stateMachine: machine,
      logger,
      address: previous?.address ?? '',
      tickMs: 10,
      electionTicks: 20,
      heartbeatTicks: 2,
      knownPeers: options.knownPeers ?? {},
      ...this.options.nodeOptions
    })
    const test: TestNode = { id, dir, keyPair, node, machine, storage, address: previous?.address ?? '' }
    this.nodes.set(id, test)
    return test
  }

  /** Stops a node and starts it again on the same endpoint and data directory. */
  async restart (id: NodeId): Promise<TestNode> {
    const test = this.get(id)
    await test.node.stop()
    const endpoint = test.address.split(' ')[0]!
    const fresh = await this.create(id, { endpoint })
    await fresh.node.start()
    return fresh
  }

  get (id: NodeId): TestNode {
    const test = this.nodes.get(id)
    if (test === undefined) throw new Error(`no node ${id}`)
    return test
  }

  leader (): TestNode | undefined {
    return [...this.nodes.values()].find(test => test.node.isLeader)
  }

  followers (): TestNode[] {
    return [...this.nodes.values()].filter(test => !test.node.isLeader)
  }

  async stop (): Promise<void> {
    await Promise.all([...this.nodes.values()].map(async test => await test.node.stop().catch(() => {})))
    await Promise.all(this.dirs.map(async dir => await rm(dir, { recursive: true, force: true })))
  }
}
