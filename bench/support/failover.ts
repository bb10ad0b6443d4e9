/**
 * One leader-failover measurement for `npm run bench:kv`: N clients write to the leader; the
 * leader's process group gets SIGKILL; the result is the time from just before the kill to the
 * first write acknowledged by a surviving member. A client whose write fails (refused, reset,
 * error status, or no answer within its timeout) moves on to the next member in its own order,
 * so half the clients try each survivor first. Client timeouts are spread over T..2T so that the
 * retries of parked requests do not all land at once. Afterwards the killed member is restarted
 * and the cluster is healthy again before this returns.
 */
import type { Agent } from 'node:http'
import { keepAliveAgent, send } from './http-load.js'
import { killMember, type KvCluster, type Member } from './kv-cluster.js'
import { waitHealthy } from './health.js'
import { waitFor } from '../../src/util/wait-for.js'

export interface FailoverOptions {
  readonly run: number
  readonly clients: number
  readonly timeoutMs: number
  readonly log: (message: string) => void
}

const maxOpsPerClient = 1_000_000
const hardLimitMs = 120_000

class FailoverLoad {
  successes = 0
  killed: Member | null = null
  killedAt = Infinity
  firstSuccessAt: number | null = null
  private stopped = false
  private readonly agent: Agent
  private readonly value = 'v'.repeat(256)
  private running: Promise<void[]> | null = null

  constructor (private readonly cluster: KvCluster, private readonly leader: Member, private readonly options: FailoverOptions) {
    this.agent = keepAliveAgent(options.clients)
  }

  /** Client c starts on the leader, then tries the others in an order rotated by c. */
  private order (client: number): Member[] {
    const others = this.cluster.members.filter(m => m !== this.leader)
    const shift = client % others.length
    return [this.leader, ...others.slice(shift), ...others.slice(0, shift)]
  }

  private async client (id: number): Promise<void> {
    const order = this.order(id)
    const timeoutMs = Math.round(this.options.timeoutMs * (1 + id / Math.max(1, this.options.clients - 1)))
    const hardDeadline = performance.now() + hardLimitMs
    let target = 0
    for (let seq = 0; seq < maxOpsPerClient && !this.stopped && performance.now() < hardDeadline; seq += 1) {
      const member = order[target]!
      const key = `bench/failover/${this.options.run}/${id}/${seq}`
      const reply = await send(this.agent, member, this.cluster.putRequest(key, this.value), timeoutMs)
      const done = performance.now()
      if (this.cluster.putSucceeded(reply)) {
        this.successes += 1
        if (member !== this.killed && done >= this.killedAt && this.firstSuccessAt === null) this.firstSuccessAt = done
      } else {
        target = (target + 1) % order.length
        await new Promise(resolve => setTimeout(resolve, 2))
      }
    }
  }

  start (): void {
    this.running = Promise.all(Array.from({ length: this.options.clients }, async (_unused, id) => await this.client(id)))
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.running
    this.agent.destroy()
  }
}

/** Milliseconds from the kill to the first acknowledged write, or null if none within 30 s. */
export async function failoverRun (cluster: KvCluster, options: FailoverOptions): Promise<number | null> {
  const leader = await waitHealthy(cluster)
  const load = new FailoverLoad(cluster, leader, options)
  load.start()
  try {
    await waitFor(() => load.successes >= 100, { timeoutMs: 30_000, what: `${cluster.system}: 100 writes before the kill` })
    options.log(`${cluster.system} failover run ${options.run}: SIGKILL leader ${leader.name} (pid ${leader.proc?.pid ?? '?'})`)
    load.killed = leader
    load.killedAt = performance.now()
    await killMember(leader)
    const firstSuccessAt = await waitFor(() => load.firstSuccessAt ?? false, { timeoutMs: 30_000, intervalMs: 5, what: 'a write after the kill' }).catch(() => null)
    return firstSuccessAt === null ? null : firstSuccessAt - load.killedAt
  } finally {
    await load.stop()
    if (leader.proc === null) await cluster.restart(leader.name)
  }
}
