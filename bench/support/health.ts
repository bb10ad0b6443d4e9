/**
 * "Healthy" for `npm run bench:kv`: a live leader is known, it acknowledges a fresh write, and
 * every running member has applied that write (a local stale/serializable read finds it). Polls
 * under deadlines only.
 */
import { keepAliveAgent, send } from './http-load.js'
import { liveMembers, type KvCluster, type Member } from './kv-cluster.js'
import { waitFor } from '../../src/util/wait-for.js'

let markers = 0

export async function waitHealthy (cluster: KvCluster, timeoutMs = 60_000): Promise<Member> {
  const deadline = Date.now() + timeoutMs
  const left = (): number => Math.max(1, deadline - Date.now())
  const marker = `bench/health/${process.pid}/${markers++}`
  const agent = keepAliveAgent(1)
  try {
    const leader = await waitFor(async () => {
      const leader = await cluster.leader()
      if (leader === undefined) return undefined
      const reply = await send(agent, leader, cluster.putRequest(marker, 'ok'), 5_000)
      return cluster.putSucceeded(reply) ? leader : undefined
    }, { timeoutMs: left(), intervalMs: 50, what: `${cluster.system}: a leader that acknowledges a write` })
    for (const member of liveMembers(cluster)) {
      await waitFor(async () => await cluster.hasKey(member, marker), { timeoutMs: left(), intervalMs: 50, what: `${cluster.system} ${member.name} to apply ${marker}` })
    }
    return leader
  } finally {
    agent.destroy()
  }
}
