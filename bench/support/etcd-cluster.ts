/**
 * A three-member etcd 3.4 cluster for `npm run bench:kv`: e1..e3 on 127.0.B.21-23 (client port
 * 2379, peer port 2380), each with its own data dir and the static `--initial-cluster`, etcd's
 * defaults otherwise (fsync on: no --unsafe-no-fsync; election timeout 1000 ms, randomised
 * up to 2000 ms, heartbeat 100 ms). Writes go through etcd's v3 JSON gateway (`POST /v3/kv/put`, base64 key and value).
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { getJson, type Reply, type RequestSpec } from './http-load.js'
import { liveMembers, memberNamed, stopMembers, type KvCluster, type Member } from './kv-cluster.js'
import { spawnGroup } from './procs.js'
import { waitFor } from '../../src/util/wait-for.js'

export interface EtcdOptions {
  readonly block: number
  readonly dir: string
}

function b64 (text: string): string {
  return Buffer.from(text).toString('base64')
}

export function etcdVersion (): string {
  try {
    return /etcd Version: (\S+)/.exec(execFileSync('etcd', ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown'
  } catch {
    return 'missing'
  }
}

interface StatusReply { header?: { member_id?: string }, leader?: string }

export class EtcdCluster implements KvCluster {
  readonly system = 'etcd' as const
  readonly members: Member[]
  readonly notes: Record<string, unknown>
  private started = false

  private constructor (private readonly options: EtcdOptions) {
    this.members = [1, 2, 3].map(i => ({ name: `e${i}`, host: `127.0.${options.block}.${20 + i}`, port: 2379, proc: null }))
    this.notes = { version: etcdVersion(), electionTimeoutMs: '1000..2000', heartbeatMs: 100, fsync: true, api: 'v3 JSON gateway POST /v3/kv/put' }
  }

  static async start (options: EtcdOptions): Promise<EtcdCluster> {
    const cluster = new EtcdCluster(options)
    try {
      await Promise.all(cluster.members.map(async m => await cluster.restart(m.name)))
    } catch (err) {
      await cluster.stop()
      throw err
    }
    cluster.started = true
    return cluster
  }

  private args (member: Member): string[] {
    const initialCluster = this.members.map(m => `${m.name}=http://${m.host}:2380`).join(',')
    return [
      `--name=${member.name}`, `--data-dir=${join(this.options.dir, member.name)}`,
      `--listen-client-urls=http://${member.host}:2379`, `--advertise-client-urls=http://${member.host}:2379`,
      `--listen-peer-urls=http://${member.host}:2380`, `--initial-advertise-peer-urls=http://${member.host}:2380`,
      `--initial-cluster=${initialCluster}`, '--initial-cluster-state=new', '--initial-cluster-token=weft-bench-kv',
      '--logger=zap', '--log-outputs=stderr'
    ]
  }

  /**
   * Starts the member and waits until its client port answers. On the first start the three
   * members need each other before any serves, so they are started together (see start()).
   */
  async restart (name: string): Promise<void> {
    const member = memberNamed(this, name)
    member.proc = spawnGroup(`etcd ${name}`, 'etcd', this.args(member))
    const proc = member.proc
    await waitFor(async () => {
      if (proc.child.exitCode !== null) throw new Error(`etcd ${name} exited (${proc.child.exitCode}); output:\n${proc.logs().slice(-4000)}`)
      const health = await getJson(member, 'GET', '/health', undefined).catch(() => null) as { health?: string } | null
      return health?.health === 'true'
    }, { timeoutMs: 60_000, intervalMs: 50, what: `etcd ${name} /health${this.started ? '' : ' (initial cluster)'}` })
  }

  putRequest (key: string, value: string): RequestSpec {
    return { method: 'POST', path: '/v3/kv/put', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: b64(key), value: b64(value) }) }
  }

  putSucceeded (reply: Reply): boolean {
    return reply.status === 200 && reply.body.includes('"header"') && !reply.body.includes('"error"')
  }

  async leader (): Promise<Member | undefined> {
    const live = liveMembers(this)
    const ids = new Map<string, Member>()
    let leaderId: string | undefined
    for (const member of live) {
      try {
        const status = await getJson(member, 'POST', '/v3/maintenance/status', {}) as StatusReply
        if (status.header?.member_id !== undefined) ids.set(status.header.member_id, member)
        if (status.leader !== undefined && status.leader !== '0') leaderId = status.leader
      } catch { /* ask the next one */ }
    }
    return leaderId === undefined ? undefined : ids.get(leaderId)
  }

  async hasKey (member: Member, key: string): Promise<boolean> {
    const reply = await getJson(member, 'POST', '/v3/kv/range', { key: b64(key), serializable: true }) as { kvs?: unknown[] }
    return (reply.kvs?.length ?? 0) > 0
  }

  async stop (): Promise<void> {
    await stopMembers(this.members, 20_000)
  }
}
