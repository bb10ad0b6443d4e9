/**
 * Three `weft agent -server` processes for `npm run bench:kv`, laid out like scripts/cluster.sh:
 * s1..s3 on 127.0.B.11-13, each with Consul's default ports on its own address, its own data
 * dir, and a config file with `performance.raft_multiplier`. Raft log writes are fsynced (weft
 * has no switch to turn that off). Extra node flags (e.g. --cpu-prof) go to every server.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getJson, send, keepAliveAgent, type Reply, type RequestSpec } from './http-load.js'
import { liveMembers, memberNamed, stopMembers, type KvCluster, type Member } from './kv-cluster.js'
import { spawnGroup, withDeadline } from './procs.js'

const weftCli = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))

export interface WeftOptions {
  readonly block: number
  readonly dir: string
  readonly raftMultiplier: number
  /** Node flags before the script, e.g. --cpu-prof (which NODE_OPTIONS does not accept). */
  readonly nodeArgs?: readonly string[]
  /** More agent configuration, merged into the config file (e.g. connect.ca_config for bench:ca). */
  readonly extraConfig?: Readonly<Record<string, unknown>>
}

export class WeftCluster implements KvCluster {
  readonly system = 'weft' as const
  readonly members: Member[]
  readonly notes: Record<string, unknown>
  private readonly configFile: string

  private constructor (private readonly options: WeftOptions) {
    this.members = [1, 2, 3].map(i => ({ name: `s${i}`, host: `127.0.${options.block}.${10 + i}`, port: 8500, proc: null }))
    this.configFile = join(options.dir, 'bench-weft.json')
    this.notes = {
      raftMultiplier: options.raftMultiplier,
      // src/agent/agent.ts: a tick is 10 ms * multiplier, heartbeats every 10 ticks, and a follower
      // campaigns after a random 100..200 ticks without a leader (src/raft/core/raft.ts).
      // Config.raft: ticks of 10 ms x multiplier, election 20..40 ticks, heartbeat every 2 ticks.
      electionTimeoutMs: `${200 * options.raftMultiplier}..${400 * options.raftMultiplier}`,
      heartbeatMs: 20 * options.raftMultiplier,
      fsync: true
    }
  }

  static async start (options: WeftOptions): Promise<WeftCluster> {
    const cluster = new WeftCluster(options)
    await writeFile(cluster.configFile, JSON.stringify({ ...options.extraConfig, performance: { raft_multiplier: options.raftMultiplier } }) + '\n')
    try {
      await Promise.all(cluster.members.map(async m => await cluster.restart(m.name)))
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  private args (member: Member): string[] {
    return [
      ...this.options.nodeArgs ?? [], weftCli, 'agent', '-server', `-bootstrap-expect=${this.members.length}`, `-node=${member.name}`,
      `-bind=${member.host}`, `-client=${member.host}`, `-data-dir=${join(this.options.dir, member.name)}`,
      ...this.members.map(m => `-retry-join=${m.host}`), `-config-file=${this.configFile}`, '-log-json'
    ]
  }

  async restart (name: string): Promise<void> {
    const member = memberNamed(this, name)
    member.proc = spawnGroup(`weft ${name}`, process.execPath, this.args(member), { readyLine: line => line.includes('"msg":"agent ready"') })
    await withDeadline(member.proc.ready, 60_000, `weft ${name} to report "agent ready"`)
  }

  putRequest (key: string, value: string): RequestSpec {
    return { method: 'PUT', path: `/v1/kv/${key}`, headers: { 'content-type': 'application/octet-stream' }, body: value }
  }

  putSucceeded (reply: Reply): boolean {
    return reply.status === 200 && reply.body.trim() === 'true'
  }

  async leader (): Promise<Member | undefined> {
    for (const member of liveMembers(this)) {
      try {
        const address = await getJson(member, 'GET', '/v1/status/leader', undefined)
        const leader = liveMembers(this).find(m => address === `${m.host}:8300`)
        if (leader !== undefined) return leader
      } catch { /* ask the next one */ }
    }
    return undefined
  }

  async hasKey (member: Member, key: string): Promise<boolean> {
    const agent = keepAliveAgent(1)
    try {
      const reply = await send(agent, member, { method: 'GET', path: `/v1/kv/${key}?stale`, headers: {}, body: '' }, 2_000)
      return reply.status === 200
    } finally {
      agent.destroy()
    }
  }

  async stop (): Promise<void> {
    await stopMembers(this.members, 20_000)
  }
}
