/**
 * One long-lived blocking query against the agent, as Consul's watch plans run them: fetch with
 * the last version (X-Consul-Index, or X-Consul-ContentHash for hash-blocking endpoints), hand
 * each new value to `onValue`, repeat. One fetch is in flight at a time; a failure is retried
 * with exponential back-off (initial 100 ms, doubling, capped, jittered) while the last good
 * value stays in use. An index that goes backwards (a restored server) is taken as is.
 *
 * Logging: the first failure and every 10th at warn, the others at debug; recovery at info.
 *
 * Callers: certificates.ts (leaf, roots), upstream.ts (health), authorize.ts (intentions),
 * proxy.ts (sidecar registration).
 */
import type { Logger } from 'pino'
import { ControlPlaneError, isControlPlaneError } from '../util/errors.js'

export interface Versioned<T> {
  readonly value: T
  /** The index or content hash this value was read at ('' = unknown: the next fetch does not block). */
  readonly version: string
}

export type WatchFetch<T> = (version: string, signal: AbortSignal) => Promise<Versioned<T>>

export interface WatchOptions<T> {
  /** For logs: `leaf web`, `roots`, `upstream socat`. */
  readonly what: string
  readonly fetch: WatchFetch<T>
  /** Called with every new value (not with a repeat of the same version), in order. */
  readonly onValue: (value: T) => void
  readonly logger: Logger
  readonly backoffInitialMs?: number
  readonly backoffMaxMs?: number
}

const backoffInitialMsDefault = 100
const backoffMaxMsDefault = 3_000
const warnEveryFailures = 10

export class Watch<T> {
  private readonly abort = new AbortController()
  private latest: Versioned<T> | null = null
  private loop: Promise<void> | null = null
  private lastError: unknown = null
  private readonly loadWaiters = new Set<() => void>()

  constructor (private readonly options: WatchOptions<T>) {}

  start (): void {
    if (this.loop !== null) return
    this.loop = this.run()
  }

  stop (): void {
    this.abort.abort()
    for (const wake of [...this.loadWaiters]) wake()
  }

  get value (): T | null {
    return this.latest?.value ?? null
  }

  /** The current value, waiting up to `timeoutMs` for the first one; rejects with the last error. */
  async ready (timeoutMs: number): Promise<T> {
    if (this.latest === null) {
      await new Promise<void>(resolve => {
        const done = (): void => { clearTimeout(timer); this.loadWaiters.delete(done); resolve() }
        const timer = setTimeout(done, timeoutMs)
        this.loadWaiters.add(done)
      })
    }
    if (this.latest !== null) return this.latest.value
    if (isControlPlaneError(this.lastError)) throw this.lastError
    throw new ControlPlaneError('ERR_TIMEOUT', `${this.options.what}: no answer from the agent within ${timeoutMs} ms`)
  }

  private async run (): Promise<void> {
    const { signal } = this.abort
    let failures = 0
    while (!signal.aborted) {
      try {
        const next = await this.options.fetch(this.latest?.version ?? '', signal)
        if (signal.aborted) return
        if (failures > 0) this.options.logger.info({ watch: this.options.what, attempts: failures }, 'watch recovered')
        failures = 0
        this.lastError = null
        if (this.latest !== null && this.latest.version === next.version && next.version !== '') continue
        this.latest = next
        for (const wake of [...this.loadWaiters]) wake()
        this.options.onValue(next.value)
      } catch (err) {
        if (signal.aborted) return
        failures += 1
        this.lastError = err
        const delayMs = this.backoffMs(failures)
        const level = failures === 1 || failures % warnEveryFailures === 0 ? 'warn' : 'debug'
        this.options.logger[level]({ watch: this.options.what, err: (err as Error).message, attempt: failures, retryInMs: delayMs }, 'watch failed; retrying')
        await abortableDelay(delayMs, signal)
      }
    }
  }

  private backoffMs (failures: number): number {
    const initialMs = this.options.backoffInitialMs ?? backoffInitialMsDefault
    const maxMs = this.options.backoffMaxMs ?? backoffMaxMsDefault
    const baseMs = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20))
    return Math.round(baseMs / 2 + (baseMs / 2) * Math.random())
  }
}

export async function abortableDelay (delayMs: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, delayMs)
    signal.addEventListener('abort', done)
  })
}
