/**
 * Supervises legacy managed proxies (spec §3.4.4, Consul 1.2-1.5 `connect.proxy`): one child
 * process per proxy service, started when the service is registered, restarted with back-off
 * when it exits, and stopped when the service goes away or the agent stops.
 *
 * The child is `node <repo>/dist/cmd/weft.js connect proxy -service <target> -listen ADDR:PORT
 * -service-addr ADDR:PORT -http-addr http://<agent> [-upstream NAME:PORT ...]` (Consul's flags),
 * or the definition's own `command` (which then configures itself from the environment, as
 * Consul's managed proxies did). Every child gets CONSUL_PROXY_ID and CONSUL_HTTP_ADDR.
 * Output goes to `<data_dir>/proxy/logs/<id>-stdout.log` and `-stderr.log` (Consul's layout),
 * or nowhere without a data dir.
 *
 * Restarts: after an exit, the next start waits `backoffInitialMs` (1 s), doubling up to
 * `backoffMaxMs` (30 s) while the child keeps dying within `stableAfterMs` (10 s) of starting;
 * a child that ran longer starts the back-off over. Until the agent's HTTP API listens, the
 * first start waits for it (checked every 50 ms). Stopping sends SIGTERM, then SIGKILL after
 * `stopTimeoutMs` (5 s).
 *
 * Consul refuses to run managed proxies as root unless connect.proxy.allow_managed_root; weft
 * does not check (TODO(weft): honour allow_managed_root, #6).
 *
 * Callers: src/agent/services/local-services.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What one managed proxy runs as. Two specs that are equal (JSON) need no restart. */
export interface ManagedProxySpec {
  readonly proxyId: string
  /** The service the proxy represents (`-service`). */
  readonly targetServiceName: string
  /** Empty: the built-in `weft connect proxy`. */
  readonly command: readonly string[]
  /** Public listener, `ADDR:PORT`. */
  readonly listen: string
  /** The local application, `ADDR:PORT`. */
  readonly serviceAddress: string
  readonly upstreams: ReadonlyArray<{ readonly name: string, readonly bindAddress: string, readonly port: number }>
}

export interface SupervisorLogger {
  info (fields: Record<string, unknown>, message: string): void
  warn (fields: Record<string, unknown>, message: string): void
  error (fields: Record<string, unknown>, message: string): void
}

export interface ManagedProxySupervisorOptions {
  /** The agent's HTTP API as `host:port`; '' while it is not listening yet. */
  readonly httpAddress: () => string
  /** null: child output is discarded. */
  readonly logDirectory: string | null
  readonly logger: SupervisorLogger
  /** The environment children inherit (captured once at start-up). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The weft CLI script; defaults to this build's dist/cmd/weft.js. */
  readonly weftScript?: string
  readonly nodePath?: string
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
  readonly stableAfterMs?: number
  readonly stopTimeoutMs?: number
}

interface Supervised {
  spec: ManagedProxySpec
  child: ChildProcess | null
  startedAtMs: number
  restartDelayMs: number
  timer: NodeJS.Timeout | null
  restarts: number
  /** Set while stopping on purpose: the exit is not a crash. */
  stopping: Promise<void> | null
}

/** How often a proxy waiting for the agent's HTTP API checks again. */
const httpWaitMs = 50

const defaultWeftScript = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))

export class ManagedProxySupervisor {
  readonly #proxies = new Map<string, Supervised>()
  #closed = false

  constructor (private readonly options: ManagedProxySupervisorOptions) {}

  /** Starts the proxy, or restarts it when its spec changed; an unchanged running proxy is left alone. */
  async ensure (spec: ManagedProxySpec): Promise<void> {
    if (this.#closed) return
    const existing = this.#proxies.get(spec.proxyId)
    if (existing !== undefined && JSON.stringify(existing.spec) === JSON.stringify(spec)) return
    if (existing !== undefined) await this.remove(spec.proxyId)
    const supervised: Supervised = {
      spec, child: null, startedAtMs: 0, restartDelayMs: this.options.backoffInitialMs ?? 1_000, timer: null, restarts: 0, stopping: null
    }
    this.#proxies.set(spec.proxyId, supervised)
    this.launch(supervised)
  }

  /** Stops and forgets a proxy; resolves once its process has exited. */
  async remove (proxyId: string): Promise<void> {
    const supervised = this.#proxies.get(proxyId)
    if (supervised === undefined) return
    this.#proxies.delete(proxyId)
    await this.terminate(supervised)
  }

  async stopAll (): Promise<void> {
    this.#closed = true
    const all = [...this.#proxies.values()]
    this.#proxies.clear()
    await Promise.all(all.map(async supervised => await this.terminate(supervised)))
  }

  /** The running proxies: id → pid (null between restarts). */
  status (): Map<string, { readonly pid: number | null, readonly restarts: number }> {
    return new Map([...this.#proxies].map(([id, s]) => [id, { pid: s.child?.pid ?? null, restarts: s.restarts }]))
  }

  private launch (supervised: Supervised): void {
    supervised.timer = null
    if (this.#proxies.get(supervised.spec.proxyId) !== supervised) return
    // An agent listening on every address is reached on loopback.
    const httpAddress = this.options.httpAddress().replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^(\[::\]|::):/, '[::1]:')
    if (httpAddress === '') {
      // Normal at start-up: config definitions load before the HTTP API listens. Not a restart.
      supervised.timer = setTimeout(() => this.launch(supervised), httpWaitMs)
      supervised.timer.unref()
      return
    }
    const { command, args } = this.commandLine(supervised.spec, httpAddress)
    const output = this.openLogs(supervised.spec.proxyId)
    let child: ChildProcess
    try {
      child = spawn(command, args, {
        stdio: ['ignore', output.stdout, output.stderr],
        env: { ...this.options.env, CONSUL_PROXY_ID: supervised.spec.proxyId, CONSUL_HTTP_ADDR: `http://${httpAddress}` }
      })
    } finally {
      output.close()
    }
    supervised.child = child
    supervised.startedAtMs = Date.now()
    this.options.logger.info({ proxy: supervised.spec.proxyId, pid: child.pid ?? null, command, args }, 'managed proxy started')
    child.once('error', err => {
      this.options.logger.error({ proxy: supervised.spec.proxyId, err: err.message }, 'managed proxy could not be started')
    })
    child.once('exit', (code, signal) => this.onExit(supervised, child, { code, signal }))
  }

  private onExit (supervised: Supervised, child: ChildProcess, exit: { code: number | null, signal: NodeJS.Signals | null }): void {
    if (supervised.child !== child) return
    supervised.child = null
    if (supervised.stopping !== null || this.#proxies.get(supervised.spec.proxyId) !== supervised) return
    const ranMs = Date.now() - supervised.startedAtMs
    if (ranMs >= (this.options.stableAfterMs ?? 10_000)) supervised.restartDelayMs = this.options.backoffInitialMs ?? 1_000
    this.scheduleRestart(supervised, { reason: 'exited', code: exit.code, signal: exit.signal, ranMs })
  }

  private scheduleRestart (supervised: Supervised, fields: Record<string, unknown>): void {
    if (this.#closed) return
    const delayMs = supervised.restartDelayMs
    supervised.restartDelayMs = Math.min(this.options.backoffMaxMs ?? 30_000, delayMs * 2)
    supervised.restarts += 1
    this.options.logger.warn({ proxy: supervised.spec.proxyId, ...fields, restartInMs: delayMs }, 'managed proxy is not running; restarting')
    supervised.timer = setTimeout(() => this.launch(supervised), delayMs)
    supervised.timer.unref()
  }

  private async terminate (supervised: Supervised): Promise<void> {
    if (supervised.timer !== null) clearTimeout(supervised.timer)
    supervised.timer = null
    const child = supervised.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    supervised.stopping ??= new Promise<void>(resolve => {
      const killer = setTimeout(() => child.kill('SIGKILL'), this.options.stopTimeoutMs ?? 5_000)
      child.once('exit', () => {
        clearTimeout(killer)
        this.options.logger.info({ proxy: supervised.spec.proxyId }, 'managed proxy stopped')
        resolve()
      })
      child.kill('SIGTERM')
    })
    await supervised.stopping
  }

  private commandLine (spec: ManagedProxySpec, httpAddress: string): { command: string, args: string[] } {
    if (spec.command.length > 0) return { command: spec.command[0] as string, args: spec.command.slice(1) }
    const args = [
      this.options.weftScript ?? defaultWeftScript, 'connect', 'proxy',
      '-service', spec.targetServiceName,
      '-listen', spec.listen,
      '-service-addr', spec.serviceAddress,
      '-http-addr', `http://${httpAddress}`
    ]
    for (const upstream of spec.upstreams) {
      const isDefaultBind = upstream.bindAddress === '' || upstream.bindAddress === '127.0.0.1'
      args.push('-upstream', isDefaultBind ? `${upstream.name}:${upstream.port}` : `${upstream.name}:${upstream.bindAddress}:${upstream.port}`)
    }
    return { command: this.options.nodePath ?? process.execPath, args }
  }

  /** File descriptors for the child's output (closed in the parent once the child has them). */
  private openLogs (proxyId: string): { stdout: number | 'ignore', stderr: number | 'ignore', close: () => void } {
    const directory = this.options.logDirectory
    if (directory === null) return { stdout: 'ignore', stderr: 'ignore', close: () => {} }
    try {
      mkdirSync(directory, { recursive: true, mode: 0o700 })
      const stdout = openSync(join(directory, `${proxyId}-stdout.log`), 'a', 0o600)
      const stderr = openSync(join(directory, `${proxyId}-stderr.log`), 'a', 0o600)
      return { stdout, stderr, close: () => { closeSync(stdout); closeSync(stderr) } }
    } catch (err) {
      this.options.logger.warn({ proxy: proxyId, directory, err: (err as Error).message }, 'managed proxy logs cannot be written; discarding its output')
      return { stdout: 'ignore', stderr: 'ignore', close: () => {} }
    }
  }
}
