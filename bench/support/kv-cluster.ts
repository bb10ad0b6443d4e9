/**
 * What `npm run bench:kv` needs from a three-member KV cluster, whatever the system: how a PUT
 * looks on the wire, who leads, whether a member has applied a key, and the processes (kill -9,
 * restart, stop). Implemented by WeftCluster and EtcdCluster.
 */
import type { Endpoint, Reply, RequestSpec } from './http-load.js'
import { isRunning, killGroup, signalGroup, terminateGroup, type Proc } from './procs.js'

export type SystemName = 'weft' | 'etcd'

export interface Member extends Endpoint {
  proc: Proc | null
}

export interface KvCluster {
  readonly system: SystemName
  readonly members: readonly Member[]
  /** Facts printed with every row (version, timers, fsync...). */
  readonly notes: Readonly<Record<string, unknown>>
  putRequest (key: string, value: string): RequestSpec
  putSucceeded (reply: Reply): boolean
  /** The leader as reported by a live member, if one is known and alive. */
  leader (): Promise<Member | undefined>
  /** A local (stale/serializable) read of `key` on `member` finds it. */
  hasKey (member: Member, key: string): Promise<boolean>
  /** Start a stopped member again on its data dir; resolves when it serves. */
  restart (name: string): Promise<void>
  stop (): Promise<void>
}

export function memberNamed (cluster: KvCluster, name: string): Member {
  const member = cluster.members.find(m => m.name === name)
  if (member === undefined) throw new Error(`${cluster.system}: no member ${name}`)
  return member
}

/** SIGKILL of the member's process group. */
export async function killMember (member: Member): Promise<void> {
  if (member.proc !== null) await killGroup(member.proc)
  member.proc = null
}

export async function stopMembers (members: readonly Member[], graceMs: number): Promise<void> {
  await Promise.all(members.map(async member => {
    if (isRunning(member.proc)) await terminateGroup(member.proc, graceMs)
    member.proc = null
  }))
}

export function liveMembers (cluster: KvCluster): Member[] {
  return cluster.members.filter(m => isRunning(m.proc))
}

/**
 * SIGSTOP (or SIGCONT) every member: the bench freezes the cluster it is not measuring so that
 * the two systems never share the CPUs; waitHealthy() runs after a resume.
 */
export function freezeMembers (members: readonly Member[], frozen: boolean): void {
  for (const member of members) if (isRunning(member.proc)) signalGroup(member.proc, frozen ? 'SIGSTOP' : 'SIGCONT')
}
