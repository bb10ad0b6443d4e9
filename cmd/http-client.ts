/**
 * A small HTTP client for the agent's Consul-compatible API, used by every command but `agent`.
 *
 * Contract:
 * - Every request carries an AbortSignal deadline (`requestTimeoutMs`, or the request's own
 *   `timeoutMs`) that covers connecting, the headers and reading the body.
 * - Buffered bodies are capped at `responseBytesMax`; a larger body fails with ERR_TOO_LARGE
 *   instead of growing without bound. Snapshot downloads use `openStream` and are not buffered.
 * - 2xx answers, and the non-2xx statuses a request lists in `answerStatuses` (404 for KV
 *   reads), resolve; any other status rejects with ERR_UNEXPECTED_RESPONSE carrying Consul's
 *   `Unexpected response code: N (body)` text. A transport failure rejects with
 *   ERR_AGENT_UNREACHABLE, a missed deadline with ERR_TIMEOUT.
 * - The token goes in `X-Consul-Token`, `-datacenter` in `?dc=`.
 */
import { CliError, unexpectedResponse } from './errors.js'

export interface HttpClientOptions {
  /** Scheme, host and port with no trailing slash, e.g. `http://127.0.0.1:8500`. */
  readonly baseUrl: string
  readonly token: string | undefined
  /** `user:password` for HTTP basic authentication (CONSUL_HTTP_AUTH). */
  readonly basicAuth: string | undefined
  readonly datacenter: string | undefined
  readonly requestTimeoutMs: number
  readonly responseBytesMax: number
}

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE'

/** `true` sends the parameter with an empty value (`?recurse=`), as Consul's Go client does. */
export type QueryValue = string | true

export interface HttpRequest {
  readonly method: HttpMethod
  /** Path starting with `/v1/`, already percent-encoded (see `encodeKeyPath`). */
  readonly path: string
  readonly query?: Readonly<Record<string, QueryValue | undefined>>
  readonly body?: Uint8Array | ReadableStream<Uint8Array>
  /**
   * The length of a streamed body, when known: sent as Content-Length instead of chunked
   * encoding, so the agent can read the body into one buffer of that size (src/api/body.ts)
   * rather than collect pieces and join them (a second copy of the whole body).
   */
  readonly bodyBytes?: number
  /** Non-2xx statuses that are answers rather than failures, e.g. 404 for a missing key. */
  readonly answerStatuses?: readonly number[]
  readonly timeoutMs?: number
}

export interface HttpAnswer {
  readonly status: number
  readonly headers: Headers
  readonly body: Uint8Array
}

export interface HttpStream {
  readonly status: number
  readonly headers: Headers
  readonly body: ReadableStream<Uint8Array>
}

/** Error bodies are short text; more than this is cut (the status already says what happened). */
const errorBodyBytesMax = 64 * 1024

export class HttpClient {
  readonly options: HttpClientOptions

  constructor (options: HttpClientOptions) {
    if (!Number.isSafeInteger(options.requestTimeoutMs) || options.requestTimeoutMs <= 0) {
      throw new Error(`requestTimeoutMs must be a positive integer, got ${options.requestTimeoutMs}`)
    }
    if (!Number.isSafeInteger(options.responseBytesMax) || options.responseBytesMax <= 0) {
      throw new Error(`responseBytesMax must be a positive integer, got ${options.responseBytesMax}`)
    }
    this.options = options
  }

  /** Sends a request and buffers the answer's body (at most responseBytesMax bytes). */
  async request (request: HttpRequest): Promise<HttpAnswer> {
    const { response, signal, what } = await this.send(request)
    const body = await readBody(response, { bytesMax: this.options.responseBytesMax, what, signal, timeoutMs: this.timeoutFor(request) })
    return { status: response.status, headers: response.headers, body }
  }

  /** Like `request`, then parses the body as JSON (an empty body gives undefined). */
  async requestJson (request: HttpRequest): Promise<{ status: number, headers: Headers, json: unknown }> {
    const answer = await this.request(request)
    const text = new TextDecoder().decode(answer.body)
    if (text.trim() === '') return { status: answer.status, headers: answer.headers, json: undefined }
    try {
      return { status: answer.status, headers: answer.headers, json: JSON.parse(text) as unknown }
    } catch (err) {
      throw new CliError('ERR_INVALID_RESPONSE', `${describeRequest(request)} returned invalid JSON: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Sends a request and hands back the body as a stream; the deadline keeps running while it is read. */
  async openStream (request: HttpRequest): Promise<HttpStream> {
    const { response } = await this.send(request)
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: controller => controller.close() })
    return { status: response.status, headers: response.headers, body }
  }

  private timeoutFor (request: HttpRequest): number {
    return request.timeoutMs ?? this.options.requestTimeoutMs
  }

  private async send (request: HttpRequest): Promise<{ response: Response, signal: AbortSignal, what: string }> {
    const what = describeRequest(request)
    const timeoutMs = this.timeoutFor(request)
    const signal = AbortSignal.timeout(timeoutMs)
    const headers = this.headers()
    const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, signal }
    if (request.body !== undefined) {
      init.body = request.body
      if (request.body instanceof ReadableStream) init.duplex = 'half' // required by fetch for streamed uploads
      // Node's fetch sends a given Content-Length with a streamed body (and fails the request if the stream's length differs).
      if (request.body instanceof ReadableStream && request.bodyBytes !== undefined) headers['Content-Length'] = String(request.bodyBytes)
    }
    let response: Response
    try {
      response = await fetch(this.url(request), init)
    } catch (err) {
      throw transportError(err, { what, timeoutMs, baseUrl: this.options.baseUrl })
    }
    const isAnswer = (response.status >= 200 && response.status < 300) || (request.answerStatuses ?? []).includes(response.status)
    if (!isAnswer) {
      const body = await readBody(response, { bytesMax: errorBodyBytesMax, what, signal, timeoutMs, truncate: true })
      throw unexpectedResponse(response.status, errorBodyText(body))
    }
    return { response, signal, what }
  }

  private url (request: HttpRequest): string {
    const params = new URLSearchParams()
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value === undefined) continue
      params.append(name, value === true ? '' : value)
    }
    if (this.options.datacenter !== undefined) params.set('dc', this.options.datacenter)
    const search = params.toString()
    return `${this.options.baseUrl}${request.path}${search === '' ? '' : `?${search}`}`
  }

  private headers (): Record<string, string> {
    const headers: Record<string, string> = {}
    if (this.options.token !== undefined) headers['X-Consul-Token'] = this.options.token
    if (this.options.basicAuth !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(this.options.basicAuth, 'utf8').toString('base64')}`
    }
    return headers
  }
}

/**
 * Percent-encodes a KV key (or any name) for use after `/v1/kv/`, keeping `/` as the
 * separator, as Consul's Go client does.
 */
export function encodeKeyPath (key: string): string {
  return key.split('/').map(segment => encodeURIComponent(segment)).join('/')
}

function describeRequest (request: HttpRequest): string {
  return `${request.method} ${request.path}`
}

/** Text of an error body: plain text per spec §1.2, or weft's `{ error: { message } }` JSON. */
export function errorBodyText (body: Uint8Array): string {
  const text = new TextDecoder().decode(body).trimEnd()
  if (!text.startsWith('{')) return text
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } }
    if (typeof parsed.error?.message === 'string') return parsed.error.message
  } catch { /* not JSON after all: show it as text */ }
  return text
}

async function readBody (
  response: Response,
  options: { bytesMax: number, what: string, signal: AbortSignal, timeoutMs: number, truncate?: boolean }
): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let byteCount = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      const room = options.bytesMax - byteCount
      if (value.byteLength > room) {
        if (options.truncate === true) {
          chunks.push(value.subarray(0, room))
          byteCount += room
          await reader.cancel()
          break
        }
        await reader.cancel()
        throw new CliError('ERR_TOO_LARGE', `${options.what} answered with more than ${options.bytesMax} bytes`)
      }
      chunks.push(value)
      byteCount += value.byteLength
    }
  } catch (err) {
    if (err instanceof CliError) throw err
    if (options.signal.aborted) throw timeoutError(options.what, options.timeoutMs)
    throw new CliError('ERR_AGENT_UNREACHABLE', `reading the answer to ${options.what}: ${describeCause(err)}`, { cause: err })
  }
  return Buffer.concat(chunks, byteCount)
}

/** Connection-level error codes after which "is the agent running?" is the right question. */
const connectFailureCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'])

function transportError (err: unknown, context: { what: string, timeoutMs: number, baseUrl: string }): CliError {
  if (isTimeout(err)) return timeoutError(`${context.what} on ${context.baseUrl}`, context.timeoutMs)
  const causeCode = findCauseCode(err)
  return new CliError('ERR_AGENT_UNREACHABLE', describeCause(err), {
    cause: err,
    details: { causeCode, isConnectFailure: causeCode !== undefined && connectFailureCodes.has(causeCode) }
  })
}

function timeoutError (what: string, timeoutMs: number): CliError {
  return new CliError('ERR_TIMEOUT', `no answer to ${what} within ${timeoutMs} ms`)
}

function isTimeout (err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name
  return name === 'TimeoutError' || name === 'AbortError'
}

/**
 * Node's fetch rejects with `TypeError: fetch failed` and puts the socket error in `cause`
 * (an AggregateError with an empty message when several addresses were tried).
 */
function describeCause (err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause
  if (cause instanceof AggregateError && cause.errors.length > 0) {
    return cause.errors.map(inner => describeCause({ cause: inner })).join('; ')
  }
  if (cause instanceof Error && cause.message !== '') return cause.message
  const code = findCauseCode(err)
  if (code !== undefined) return code
  return err instanceof Error ? err.message : String(err)
}

function findCauseCode (err: unknown): string | undefined {
  let current: unknown = err
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}
