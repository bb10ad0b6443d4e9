/**
 * The proxy's client for its local agent's HTTP API: JSON in and out over keep-alive
 * connections (one TCP connection per concurrent request, reused), every request bounded by a
 * deadline and an optional AbortSignal, bodies capped. Blocking queries pass `?index`/`?hash`
 * and `?wait`; their deadline is the wait plus a slack.
 *
 * Errors (ControlPlaneError codes): ERR_TRANSPORT (no connection, reset), ERR_TIMEOUT (deadline),
 * ERR_NOT_FOUND (404), ERR_REJECTED (any other non-2xx; the message carries Consul's
 * `Unexpected response code: N (body)` wording), ERR_TOO_LARGE (body over the cap),
 * ERR_INVALID_INPUT (a 2xx whose body is not JSON).
 *
 * Callers: every src/proxy module that talks to the agent (through the AgentPort interface
 * below, so tests can substitute a fake agent).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { ControlPlaneError } from '../util/errors.js'

export interface AgentAnswer<T> {
  readonly status: number
  readonly value: T
  /** X-Consul-Index (0 when absent). */
  readonly index: number
  /** X-Consul-ContentHash ('' when absent). */
  readonly contentHash: string
}

export interface AgentRequest {
  readonly method: 'GET' | 'PUT' | 'POST'
  /** Path starting with /v1/, already percent-encoded. */
  readonly path: string
  readonly query?: Readonly<Record<string, string | undefined>>
  readonly body?: unknown
  /** Deadline for the whole exchange (connect to last byte). */
  readonly timeoutMs: number
  readonly signal?: AbortSignal
}

/** What the proxy needs of its agent: one JSON request. */
export interface AgentPort {
  request<T> (request: AgentRequest): Promise<AgentAnswer<T>>
  close (): void
}

export interface AgentClientOptions {
  /** `http://127.0.0.1:8500` (scheme, host, port; no trailing slash). */
  readonly baseUrl: string
  readonly token: string | undefined
  /** Largest answer body read; blocking health answers of big services must fit. */
  readonly responseBytesMax?: number
  /** Most concurrent connections to the agent (authorize calls under load queue beyond it). */
  readonly socketsMax?: number
}

const responseBytesMaxDefault = 32 * 1024 * 1024
const socketsMaxDefault = 64
const errorBodyCharsMax = 2_000

export class AgentClient implements AgentPort {
  private readonly url: URL
  private readonly agent: HttpAgent
  private readonly send: typeof httpRequest

  constructor (private readonly options: AgentClientOptions) {
    this.url = new URL(options.baseUrl)
    const isHttps = this.url.protocol === 'https:'
    const agentOptions = { keepAlive: true, maxSockets: options.socketsMax ?? socketsMaxDefault, maxFreeSockets: 16 }
    this.agent = isHttps ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions)
    this.send = isHttps ? httpsRequest : httpRequest
  }

  close (): void {
    this.agent.destroy()
  }

  async request<T> (request: AgentRequest): Promise<AgentAnswer<T>> {
    const search = new URLSearchParams()
    for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) search.set(name, value)
    const queryText = search.toString()
    const path = queryText === '' ? request.path : `${request.path}?${queryText}`
    const body = request.body === undefined ? undefined : Buffer.from(JSON.stringify(request.body), 'utf8')
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.options.token !== undefined && this.options.token !== '') headers['x-consul-token'] = this.options.token
    if (body !== undefined) {
      headers['content-type'] = 'application/json'
      headers['content-length'] = String(body.byteLength)
    }
    const what = `${request.method} ${request.path}`
    const signals = [AbortSignal.timeout(request.timeoutMs), ...(request.signal !== undefined ? [request.signal] : [])]
    const signal = signals.length === 1 ? signals[0] as AbortSignal : AbortSignal.any(signals)
    const response = await new Promise<{ message: IncomingMessage, bytes: Buffer }>((resolve, reject) => {
      const outgoing = this.send({
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port,
        method: request.method,
        path,
        headers,
        agent: this.agent,
        signal
      }, message => {
        const chunks: Buffer[] = []
        let byteCount = 0
        const bytesMax = this.options.responseBytesMax ?? responseBytesMaxDefault
        message.on('data', (chunk: Buffer) => {
          byteCount += chunk.byteLength
          if (byteCount > bytesMax) {
            message.destroy(new ControlPlaneError('ERR_TOO_LARGE', `${what}: the agent's answer is larger than ${bytesMax} bytes`))
            return
          }
          chunks.push(chunk)
        })
        message.once('end', () => resolve({ message, bytes: Buffer.concat(chunks, byteCount) }))
        message.once('error', err => reject(wrapTransportError(err, what, signal, request.timeoutMs)))
      })
      outgoing.once('error', err => reject(wrapTransportError(err, what, signal, request.timeoutMs)))
      outgoing.end(body)
    })
    return decodeAnswer<T>(response.message, response.bytes, what)
  }
}

function decodeAnswer<T> (message: IncomingMessage, bytes: Buffer, what: string): AgentAnswer<T> {
  const status = message.statusCode ?? 0
  const text = bytes.toString('utf8')
  if (status < 200 || status > 299) {
    const code = status === 404 ? 'ERR_NOT_FOUND' : 'ERR_REJECTED'
    throw new ControlPlaneError(code, `${what}: Unexpected response code: ${status} (${text.slice(0, errorBodyCharsMax).trim()})`, { details: { status, body: text.slice(0, errorBodyCharsMax) } })
  }
  let value: unknown = null
  if (text !== '') {
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new ControlPlaneError('ERR_INVALID_INPUT', `${what}: the agent answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`, { cause: err })
    }
  }
  return {
    status,
    value: value as T,
    index: Number(message.headers['x-consul-index'] ?? 0) || 0,
    contentHash: headerText(message.headers['x-consul-contenthash'])
  }
}

function headerText (value: string | string[] | undefined): string {
  return Array.isArray(value) ? value[0] ?? '' : value ?? ''
}

function wrapTransportError (err: unknown, what: string, signal: AbortSignal, timeoutMs: number): ControlPlaneError {
  if (err instanceof ControlPlaneError) return err
  if (signal.aborted) {
    const reason: unknown = signal.reason
    const isTimeout = reason instanceof DOMException && reason.name === 'TimeoutError'
    if (isTimeout) return new ControlPlaneError('ERR_TIMEOUT', `${what}: no answer from the agent within ${timeoutMs} ms`, { cause: err })
    return new ControlPlaneError('ERR_STOPPED', `${what}: aborted`, { cause: err })
  }
  return new ControlPlaneError('ERR_TRANSPORT', `${what}: ${(err as Error).message}`, { cause: err, details: { errno: (err as { code?: unknown }).code } })
}
