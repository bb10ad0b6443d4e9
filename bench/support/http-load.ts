/**
 * The HTTP side of `npm run bench:kv`: one request over a keep-alive `http.Agent` (never
 * rejects: network errors and timeouts come back as status 0), a closed-loop load of N clients
 * for a fixed window, and percentiles. Every loop is bounded in time and in count.
 */
import http from 'node:http'

export interface Endpoint {
  readonly name: string
  readonly host: string
  readonly port: number
}

export interface RequestSpec {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array | string
}

export interface Reply {
  /** HTTP status, or 0 when the request failed before a response (refused, reset, timed out). */
  readonly status: number
  readonly body: string
  readonly error?: string
}

export function keepAliveAgent (maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets })
}

export async function send (agent: http.Agent, target: Endpoint, spec: RequestSpec, timeoutMs: number): Promise<Reply> {
  return await new Promise<Reply>(resolve => {
    let settled = false
    const finish = (reply: Reply): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(reply)
    }
    const body = typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body
    const request = http.request({
      host: target.host, port: target.port, method: spec.method, path: spec.path, agent,
      headers: { ...spec.headers, 'content-length': String(body.byteLength) }
    })
    const timer = setTimeout(() => {
      finish({ status: 0, body: '', error: `timed out after ${timeoutMs} ms` })
      request.destroy()
    }, timeoutMs)
    request.on('response', response => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { if (text.length < 4096) text += chunk })
      response.on('end', () => finish({ status: response.statusCode ?? 0, body: text }))
      response.on('error', (err: Error) => finish({ status: 0, body: '', error: err.message }))
    })
    request.on('error', (err: Error) => finish({ status: 0, body: '', error: err.message }))
    request.end(body)
  })
}

export async function getJson (target: Endpoint, method: string, path: string, body: unknown, timeoutMs = 2_000): Promise<unknown> {
  const agent = new http.Agent({ keepAlive: false })
  try {
    const reply = await send(agent, target, {
      method, path, headers: { 'content-type': 'application/json' }, body: body === undefined ? '' : JSON.stringify(body)
    }, timeoutMs)
    if (reply.status < 200 || reply.status >= 300) throw new Error(`${method} ${target.name}${path}: ${reply.status} ${reply.error ?? reply.body}`)
    return JSON.parse(reply.body) as unknown
  } finally {
    agent.destroy()
  }
}

export interface LoadOptions {
  readonly clients: number
  readonly warmupMs: number
  readonly measureMs: number
  /** Upper bound on requests per client, whatever the time. */
  readonly maxOpsPerClient: number
  /** One write; resolves true when it was acknowledged. */
  readonly write: (client: number, seq: number) => Promise<boolean>
}

export interface LoadResult {
  /** Latencies (ms) of the writes acknowledged inside the measured window, sorted. */
  readonly latenciesMs: number[]
  readonly errors: number
  readonly measuredSeconds: number
}

/**
 * N clients, each writing back to back. Writes completed during the first `warmupMs` are not
 * counted; clients stop issuing at the end of the window. After a failed write a client pauses
 * 10 ms so a dead target does not spin the loop.
 */
export async function closedLoop (options: LoadOptions): Promise<LoadResult> {
  const latenciesMs: number[] = []
  let errors = 0
  const windowStart = performance.now() + options.warmupMs
  const windowEnd = windowStart + options.measureMs
  const client = async (id: number): Promise<void> => {
    for (let seq = 0; seq < options.maxOpsPerClient && performance.now() < windowEnd; seq += 1) {
      const started = performance.now()
      const ok = await options.write(id, seq)
      const done = performance.now()
      if (done < windowStart || done > windowEnd) continue
      if (ok) latenciesMs.push(done - started)
      else errors += 1
      if (!ok) await new Promise(resolve => setTimeout(resolve, 10))
    }
  }
  await Promise.all(Array.from({ length: options.clients }, async (_unused, id) => await client(id)))
  latenciesMs.sort((a, b) => a - b)
  return { latenciesMs, errors, measuredSeconds: options.measureMs / 1000 }
}

export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

export function median (values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5)
}
