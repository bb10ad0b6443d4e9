/**
 * Real `weft agent` processes for end-to-end tests, laid out like scripts/cluster.sh: servers on
 * 127.0.B.11, .12, .13 and a client on 127.0.B.1, each with Consul's default ports on its own
 * address. Each test file picks its own block B so files can run in parallel.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '../../src/util/wait-for.js'
import { killHard, spawnReady, type Spawned } from './harness.js'

const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))

export interface AgentProcess {
  readonly name: string
  readonly ip: string
  readonly http: string
  readonly server: boolean
  proc: Spawned | null
}

export class AgentCluster {
  readonly agents = new Map<string, AgentProcess>()
  private constructor (readonly block: number, readonly dir: string, private readonly extraArgs: readonly string[]) {}

  static async start (options: { block: number, servers?: number, clients?: number, extraArgs?: readonly string[] }): Promise<AgentCluster> {
    const dir = await mkdtemp(join(tmpdir(), `weft-e2e-${options.block}-`))
    const cluster = new AgentCluster(options.block, dir, options.extraArgs ?? [])
    const serverCount = options.servers ?? 3
    for (let i = 1; i <= serverCount; i += 1) {
      const ip = `127.0.${options.block}.${10 + i}`
      cluster.agents.set(`s${i}`, { name: `s${i}`, ip, http: `http://${ip}:8500`, server: true, proc: null })
    }
    for (let i = 1; i <= (options.clients ?? 1); i += 1) {
      const ip = `127.0.${options.block}.${i}`
      cluster.agents.set(`c${i}`, { name: `c${i}`, ip, http: `http://${ip}:8500`, server: false, proc: null })
    }
    try {
      await Promise.all([...cluster.agents.keys()].map(async name => await cluster.startAgent(name)))
      await cluster.waitForLeader()
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  private args (agent: AgentProcess): string[] {
    const servers = [...this.agents.values()].filter(a => a.server)
    const args = [
      weft, 'agent', `-node=${agent.name}`, `-bind=${agent.ip}`, `-client=${agent.ip}`, `-data-dir=${join(this.dir, agent.name)}`,
      ...servers.map(s => `-retry-join=${s.ip}`), '-log-json', '-log-level=info'
    ]
    if (agent.server) args.push('-server', `-bootstrap-expect=${servers.length}`)
    return [...args, ...this.extraArgs]
  }

  async startAgent (name: string): Promise<void> {
    const agent = this.get(name)
    agent.proc = await spawnReady(process.execPath, this.args(agent), { timeoutMs: 30_000, what: `agent ${name}` })
  }

  get (name: string): AgentProcess {
    const agent = this.agents.get(name)
    if (agent === undefined) throw new Error(`no agent ${name}`)
    return agent
  }

  servers (): AgentProcess[] { return [...this.agents.values()].filter(a => a.server) }

  /** The server whose RPC address /v1/status/leader reports, asked of any live server. */
  async leader (): Promise<AgentProcess | undefined> {
    for (const agent of this.servers()) {
      if (agent.proc === null) continue
      try {
        const response = await fetch(`${agent.http}/v1/status/leader`, { signal: AbortSignal.timeout(2_000) })
        const address = await response.json() as string
        const leader = this.servers().find(s => address === `${s.ip}:8300`)
        if (leader !== undefined) return leader
      } catch { /* try the next one */ }
    }
    return undefined
  }

  async waitForLeader (timeoutMs = 30_000): Promise<AgentProcess> {
    return await waitFor(async () => await this.leader(), { timeoutMs, what: 'a cluster leader' })
  }

  async kill (name: string): Promise<void> {
    const agent = this.get(name)
    if (agent.proc !== null) await killHard(agent.proc)
    agent.proc = null
  }

  async terminate (name: string, timeoutMs = 20_000): Promise<void> {
    const agent = this.get(name)
    const proc = agent.proc
    if (proc === null) return
    const exited = new Promise<void>(resolve => proc.child.once('exit', () => resolve()))
    proc.child.kill('SIGTERM')
    const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs)
    await exited
    clearTimeout(timer)
    agent.proc = null
  }

  pause (name: string): void { this.get(name).proc?.child.kill('SIGSTOP') }
  resume (name: string): void { this.get(name).proc?.child.kill('SIGCONT') }

  logs (): string {
    // The lines that explain a failure: warnings, errors and role changes, the latest of each agent.
    const interesting = /"level":(40|50|60)|raft state changed|became leader|stepping down|leadership|agent ready|stopping/
    return [...this.agents.values()].map(a => {
      const lines = (a.proc?.logs() ?? '(not running)').split('\n').filter(line => interesting.test(line)).slice(-60)
      return `--- ${a.name} ---\n${lines.join('\n')}`
    }).join('\n')
  }

  async stop (): Promise<void> {
    for (const agent of this.agents.values()) {
      if (agent.proc !== null) {
        agent.proc.child.kill('SIGCONT')
        await killHard(agent.proc)
        agent.proc = null
      }
    }
    await rm(this.dir, { recursive: true, force: true })
  }
}
