/**
 * Runs this agent's checks (spec §3.2): TTL timers, TCP and HTTP probes on an interval, and
 * alias checks that mirror a local service. Results go to one `report` callback, which records
 * them in the local state (local-services.ts).
 *
 * Timing, as Consul: an interval check runs first after a random stagger within one interval,
 * then `interval` after each run ends (runs never overlap); each run is bounded by its timeout
 * (default 10 s). A TTL check goes critical with "TTL expired" when no update arrives within
 * its TTL; every update restarts the timer. Outputs are cut as Consul cuts them: HTTP bodies to
 * the last OutputMaxSize bytes (4 KiB default), TTL notes to the first OutputMaxSize bytes with a
 * "(captured N of M bytes)" note.
 *
 * SuccessBeforePassing / FailuresBeforeWarning / FailuresBeforeCritical gate status changes as
 * Consul's StatusHandler does.
 *
 * Every runner owns at most one timer and one probe in flight; `stop` clears both, and a probe
 * finishing after its runner stopped reports nothing.
 *
 * Callers: local-services.ts.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import type { CheckDefinition, CheckStatus } from '../../api/service-definition.js'
import { checkTimeoutMsDefault, truncateOutput } from '../../api/service-definition.js'
import type { LocalState } from './local-state.js'

export interface CheckRunnersOptions {
  readonly state: LocalState
  /** Records a result (already gated by the success/failure thresholds). */
  readonly report: (checkId: string, status: CheckStatus, output: string) => void
  /** The first run of an interval check waits random() * interval; tests pass () => 0. */
  readonly random: () => number
  /** This agent's node name: an alias of another node is not supported. */
  readonly nodeName: string
  readonly logger: { debug: (fields: Record<string, unknown>, message: string) => void }
}

interface Runner {
  readonly definition: CheckDefinition
  stop (): void
}

/** Go's http client follows at most 10 redirects. */
const redirectsMax = 10

export class CheckRunners {
  readonly #runners = new Map<string, Runner>()

  constructor (private readonly options: CheckRunnersOptions) {}

  /** Starts the runner of `checkId`, replacing one with a different definition; same definition: untouched. */
  start (checkId: string, definition: CheckDefinition): void {
    const existing = this.#runners.get(checkId)
    if (existing !== undefined && JSON.stringify(existing.definition) === JSON.stringify(definition)) return
    existing?.stop()
    const gate = new StatusGate(definition, (status, output) => this.options.report(checkId, status, output))
    const runner = definition.type === 'ttl'
      ? new TtlRunner(definition, gate)
      : definition.type === 'alias'
        ? new AliasRunner(checkId, definition, gate, this.options)
        : new IntervalRunner(definition, gate, this.options)
    this.#runners.set(checkId, runner)
  }

  stop (checkId: string): void {
    this.#runners.get(checkId)?.stop()
    this.#runners.delete(checkId)
  }

  stopAll (): void {
    for (const runner of this.#runners.values()) runner.stop()
    this.#runners.clear()
  }

  /** A TTL update restarts the TTL timer; false when `checkId` has no TTL runner. */
  touchTtl (checkId: string): boolean {
    const runner = this.#runners.get(checkId)
    if (!(runner instanceof TtlRunner)) return false
    runner.touch()
    return true
  }

  has (checkId: string): boolean {
    return this.#runners.has(checkId)
  }
}

/** Consul's StatusHandler: consecutive successes/failures needed before a status is reported. */
class StatusGate {
  #successes = 0
  #failures = 0

  constructor (private readonly definition: CheckDefinition, private readonly report: (status: CheckStatus, output: string) => void) {}

  update (status: CheckStatus, output: string): void {
    const { successBeforePassing, failuresBeforeCritical } = this.definition
    const failuresBeforeWarning = this.definition.failuresBeforeWarning === 0 ? failuresBeforeCritical : this.definition.failuresBeforeWarning
    if (status !== 'critical') {
      this.#successes += 1
      this.#failures = 0
      if (this.#successes >= successBeforePassing) this.report(status, output)
      return
    }
    this.#successes = 0
    this.#failures += 1
    if (this.#failures >= failuresBeforeCritical) this.report('critical', output)
    else if (this.#failures >= failuresBeforeWarning) this.report('warning', output)
  }
}

class TtlRunner implements Runner {
  #timer: NodeJS.Timeout | null = null

  constructor (readonly definition: CheckDefinition, private readonly gate: StatusGate) {
    this.touch()
  }

  touch (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      // Expiry bypasses the thresholds: no update at all is not a flapping probe.
      this.gate.update('critical', 'TTL expired')
    }, this.definition.ttlMs)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}

class IntervalRunner implements Runner {
  #timer: NodeJS.Timeout | null = null
  #abort: AbortController | null = null
  #stopped = false

  constructor (readonly definition: CheckDefinition, private readonly gate: StatusGate, private readonly options: CheckRunnersOptions) {
    this.schedule(Math.floor(options.random() * definition.intervalMs))
  }

  private schedule (delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => { void this.runOnce() }, delayMs)
    this.#timer.unref()
  }

  private async runOnce (): Promise<void> {
    this.#timer = null
    const timeoutMs = this.definition.timeoutMs > 0 ? this.definition.timeoutMs : checkTimeoutMsDefault
    this.#abort = new AbortController()
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)])
    let result: ProbeResult
    try {
      result = this.definition.type === 'http'
        ? await probeHttp(this.definition, signal)
        : await probeTcp(this.definition.tcp, signal)
    } catch (err) {
      result = { status: 'critical', output: (err as Error).message }
    }
    this.#abort = null
    if (this.#stopped) return
    this.options.logger.debug({ check: this.definition.checkId, status: result.status }, 'check ran')
    this.gate.update(result.status, result.output)
    this.schedule(this.definition.intervalMs)
  }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#abort?.abort()
  }
}

/**
 * Mirrors the worst status of the aliased local service's checks and of the node's checks
 * (Consul's CheckAlias over local state): passing when the service exists without checks,
 * critical when it does not exist. An alias of another node (AliasNode) is not supported by
 * weft: it stays critical and says so.
 */
class AliasRunner implements Runner {
  readonly #unsubscribe: () => void

  readonly #state: LocalState

  constructor (private readonly checkId: string, readonly definition: CheckDefinition, private readonly gate: StatusGate, private readonly options: CheckRunnersOptions) {
    this.#state = options.state
    this.#unsubscribe = this.#state.onChange(() => this.evaluate())
    queueMicrotask(() => this.evaluate())
  }

  private evaluate (): void {
    if (this.#state.check(this.checkId) === undefined) return
    const result = aliasResult(this.definition, { state: this.#state, selfCheckId: this.checkId, nodeName: this.options.nodeName })
    const current = this.#state.check(this.checkId)?.check
    if (current !== undefined && current.Status === result.status && current.Output === result.output) return
    this.gate.update(result.status, result.output)
  }

  stop (): void {
    this.#unsubscribe()
  }
}

export function aliasResult (definition: CheckDefinition, context: { readonly state: LocalState, readonly selfCheckId: string, readonly nodeName: string }): ProbeResult {
  const { state, selfCheckId } = context
  if (definition.aliasNode !== '' && definition.aliasNode !== context.nodeName) {
    return { status: 'critical', output: `weft does not support alias checks of other nodes (AliasNode ${JSON.stringify(definition.aliasNode)})` }
  }
  let status: CheckStatus = 'passing'
  let output = 'No checks found.'
  let serviceFound = false
  for (const entry of state.checks()) {
    const check = entry.check
    if (check.CheckID === selfCheckId) continue
    const serviceMatch = check.ServiceID === definition.aliasService
    if (check.ServiceID !== '' && !serviceMatch) continue
    if (serviceMatch) serviceFound = true
    if (check.Status === 'critical' || check.Status === 'warning') {
      if (status !== 'critical') {
        status = check.Status
        output = `Aliased check ${JSON.stringify(check.Name)} failing: ${check.Output}`
      }
    } else if (status === 'passing') {
      output = 'All checks passing.'
    }
  }
  if (definition.aliasService !== '' && !serviceFound && state.service(definition.aliasService) === undefined) {
    return { status: 'critical', output: `Service ${definition.aliasService} could not be found on node ${context.nodeName}` }
  }
  return { status, output }
}

// ---------------------------------------------------------------------------------------------
// Probes

export interface ProbeResult {
  readonly status: CheckStatus
  readonly output: string
}

/** TCP: passing once a connection opens ("TCP connect <addr>: Success"), else the dial error. */
export async function probeTcp (address: string, signal: AbortSignal): Promise<ProbeResult> {
  const target = splitHostPort(address)
  if (target === null) return { status: 'critical', output: `dial tcp ${address}: address ${address}: missing port in address` }
  return await new Promise<ProbeResult>(resolve => {
    const socket = connect({ host: target.host, port: target.port })
    const finish = (result: ProbeResult): void => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      resolve(result)
    }
    const onAbort = (): void => finish({ status: 'critical', output: `dial tcp ${address}: i/o timeout` })
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('connect', () => finish({ status: 'passing', output: `TCP connect ${address}: Success` }))
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ status: 'critical', output: `dial tcp ${address}: ${goNetError(err, target.host)}` }))
  })
}

/** HTTP: 2xx passing, 429 warning, anything else critical; Output `HTTP GET <url>: 200 OK Output: <body>`. */
export async function probeHttp (definition: CheckDefinition, signal: AbortSignal): Promise<ProbeResult> {
  const method = definition.method === '' ? 'GET' : definition.method.toUpperCase()
  let url: URL
  try {
    url = new URL(definition.http)
  } catch {
    return { status: 'critical', output: `${goMethod(method)} ${JSON.stringify(definition.http)}: unsupported protocol scheme ""` }
  }
  try {
    for (let redirects = 0; ; redirects += 1) {
      const response = await sendHttp(url, method, definition, signal)
      const location = response.message.headers.location
      const isRedirect = response.message.statusCode !== undefined && [301, 302, 303, 307, 308].includes(response.message.statusCode)
      if (isRedirect && location !== undefined && !definition.disableRedirects) {
        response.message.resume()
        if (redirects >= redirectsMax) throw new Error(`${goMethod(method)} ${JSON.stringify(url.href)}: stopped after 10 redirects`)
        url = new URL(location, url)
        continue
      }
      const body = await readTail(response.message, definition.outputBytesMax, signal)
      const code = response.message.statusCode ?? 0
      const statusText = `${code} ${response.message.statusMessage ?? ''}`.trimEnd()
      const output = `HTTP ${method} ${definition.http}: ${statusText} Output: ${body}`
      const status: CheckStatus = code >= 200 && code <= 299 ? 'passing' : code === 429 ? 'warning' : 'critical'
      return { status, output }
    }
  } catch (err) {
    if (signal.aborted) {
      return { status: 'critical', output: `${goMethod(method)} ${JSON.stringify(url.href)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }
    }
    const error = err as NodeJS.ErrnoException
    if (error.code === undefined) return { status: 'critical', output: error.message }
    const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80'
    return { status: 'critical', output: `${goMethod(method)} ${JSON.stringify(url.href)}: dial tcp ${url.hostname}:${port}: ${goNetError(error, url.hostname)}` }
  }
}

function sendHttp (url: URL, method: string, definition: CheckDefinition, signal: AbortSignal): Promise<{ message: IncomingMessage }> {
  const headers: Record<string, string | string[]> = {
    'user-agent': 'Consul Health Check',
    accept: 'text/plain, text/*, */*'
  }
  for (const [name, values] of Object.entries(definition.header)) headers[name.toLowerCase()] = [...values]
  const isHttps = url.protocol === 'https:'
  const send = isHttps ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const outgoing = send(url, {
      method,
      headers,
      signal,
      ...(isHttps ? { rejectUnauthorized: !definition.tlsSkipVerify, servername: definition.tlsServerName === '' ? url.hostname : definition.tlsServerName } : {})
    }, message => resolve({ message }))
    outgoing.once('error', reject)
    outgoing.end(definition.body === '' ? undefined : definition.body)
  })
}

/** Reads a body to its end, keeping only the last `bytesMax` bytes (Consul's circular buffer). */
async function readTail (message: IncomingMessage, bytesMax: number, signal: AbortSignal): Promise<string> {
  return await new Promise(resolve => {
    const chunks: Buffer[] = []
    let kept = 0
    const done = (): void => {
      signal.removeEventListener('abort', onAbort)
      const joined = Buffer.concat(chunks)
      resolve(joined.subarray(Math.max(0, joined.length - bytesMax)).toString('utf8'))
    }
    const onAbort = (): void => { message.destroy(); done() }
    signal.addEventListener('abort', onAbort, { once: true })
    message.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      kept += chunk.length
      while (kept - (chunks[0]?.length ?? 0) >= bytesMax && chunks.length > 1) kept -= (chunks.shift() as Buffer).length
    })
    message.once('end', done)
    message.once('error', done)
  })
}

/** Go's `Get`, `Post`... as its url.Error prints the method. */
function goMethod (method: string): string {
  return method.charAt(0) + method.slice(1).toLowerCase()
}

/** Node's dial errors in the words of Go's net package. */
function goNetError (err: NodeJS.ErrnoException, host: string): string {
  switch (err.code) {
    case 'ECONNREFUSED': return 'connect: connection refused'
    case 'EHOSTUNREACH': return 'connect: no route to host'
    case 'ENETUNREACH': return 'connect: network is unreachable'
    case 'ETIMEDOUT': return 'i/o timeout'
    case 'ECONNRESET': return 'read: connection reset by peer'
    case 'ENOTFOUND': case 'EAI_AGAIN': return `lookup ${host}: no such host`
    default: return err.message
  }
}

/** "host:port" or "[v6]:port". */
export function splitHostPort (address: string): { host: string, port: number } | null {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address)
  if (match === null) return null
  const port = Number(match[2])
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null
  return { host: match[1] === '' ? '127.0.0.1' : match[1] ?? '', port }
}

/** A TTL update's output, cut as Consul cuts it. */
export function ttlOutput (output: string, definition: CheckDefinition | null): string {
  return truncateOutput(output, definition?.outputBytesMax ?? 4096)
}
