/**
 * Helpers for the proxy end-to-end tests (issue #6): a TCP echo service (socat when installed,
 * else a small Node echo server), `weft connect proxy` processes, a line client that reports
 * "echoed" or "closed without data" under a deadline, a TLS client for poking public listeners
 * directly, and catalog registration of connect-proxy services.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { freePort, killHard, spawnReady, type Spawned } from './harness.js'
import { http } from './http-client.js'

const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))

export interface EchoService {
  readonly port: number
  readonly kind: 'socat' | 'node'
  stop (): Promise<void>
}

function hasSocat (): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** `socat tcp-l:PORT,fork exec:/bin/cat` as in the tutorial, or a Node server doing the same. */
export async function startEcho (): Promise<EchoService> {
  const port = await freePort()
  if (hasSocat()) {
    const child = spawn('socat', [`tcp-l:${port},bind=127.0.0.1,fork,reuseaddr`, 'exec:/bin/cat'], { stdio: 'ignore' })
    await waitListening(port, 10_000)
    return { port, kind: 'socat', stop: async () => await stopChild(child) }
  }
  const server: Server = createServer({ allowHalfOpen: true }, socket => { socket.pipe(socket); socket.on('error', () => {}) })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  return { port, kind: 'node', stop: async () => await new Promise<void>(resolve => server.close(() => resolve())) }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await exited
}

async function waitListening (port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const socket = netConnect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/** `weft connect proxy -http-addr <agent> ...args`, ready once it logs its `event: ready` line. */
export async function startProxy (agentHttp: string, args: readonly string[], what: string): Promise<Spawned & { stop (): Promise<void> }> {
  const spawned = await spawnReady(process.execPath, [weft, 'connect', 'proxy', '-http-addr', agentHttp, ...args], { timeoutMs: 30_000, what })
  return { ...spawned, stop: async () => await killHard(spawned) }
}

export type EchoOutcome =
  | { readonly kind: 'echoed', readonly text: string }
  | { readonly kind: 'closed', readonly data: string }
  | { readonly kind: 'timeout', readonly data: string }

/** Writes `line\n` and waits for it to come back, for the connection to close, or the deadline. */
export async function echoOnce (port: number, line: string, timeoutMs = 5_000): Promise<EchoOutcome> {
  const client = await LineClient.open(port)
  try {
    return await client.echo(line, timeoutMs)
  } finally {
    client.destroy()
  }
}

/** A long-lived plain TCP connection to an upstream listener. */
export class LineClient {
  private data = ''
  private ended = false
  readonly closed: Promise<number>
  private readonly listeners = new Set<() => void>()

  private constructor (readonly socket: Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { this.data += chunk; this.wake() })
    socket.on('error', () => {})
    this.closed = new Promise(resolve => socket.once('close', () => { this.ended = true; this.wake(); resolve(Date.now()) }))
  }

  static async open (port: number): Promise<LineClient> {
    const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: false })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new LineClient(socket)
  }

  get isClosed (): boolean { return this.ended }

  async echo (line: string, timeoutMs: number): Promise<EchoOutcome> {
    const start = this.data.length
    const expected = `${line}\n`
    if (!this.ended) this.socket.write(expected)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const received = this.data.slice(start)
      if (received.includes(expected)) return { kind: 'echoed', text: line }
      if (this.ended) return { kind: 'closed', data: received }
      const remainingMs = deadline - Date.now()
      if (remainingMs <= 0) return { kind: 'timeout', data: received }
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, remainingMs)
        function done (): void { clearTimeout(timer); resolve() }
        this.listeners.add(done)
      })
    }
  }

  destroy (): void { this.socket.destroy() }

  private wake (): void {
    for (const wake of [...this.listeners]) wake()
    this.listeners.clear()
  }
}

export interface TlsProbeResult {
  /** The data that came back (an echo means the listener accepted us). */
  readonly data: string
  readonly handshakeError: string | null
  readonly peerSubjectAltName: string
  readonly peerSerial: string
}

/** A TLS client (optionally with key/cert) that writes `line\n` to a public listener and reports what came back. */
export async function tlsProbe (o: { port: number, line: string, key?: string, cert?: string, ca: readonly string[], timeoutMs?: number }): Promise<TlsProbeResult> {
  return await new Promise(resolve => {
    let data = ''
    let handshakeError: string | null = null
    let peerSubjectAltName = ''
    let peerSerial = ''
    const socket = tlsConnect({
      host: '127.0.0.1', port: o.port, ca: [...o.ca], checkServerIdentity: () => undefined, minVersion: 'TLSv1.3',
      ...(o.key !== undefined ? { key: o.key } : {}), ...(o.cert !== undefined ? { cert: o.cert } : {})
    }, () => {
      const peer = socket.getPeerX509Certificate()
      peerSubjectAltName = peer?.subjectAltName ?? ''
      peerSerial = peer?.serialNumber ?? ''
      socket.write(`${o.line}\n`)
    })
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
      if (data.includes(`${o.line}\n`)) socket.end()
    })
    socket.on('error', err => { handshakeError ??= err.message })
    const timer = setTimeout(() => socket.destroy(), o.timeoutMs ?? 5_000)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve({ data, handshakeError, peerSubjectAltName, peerSerial })
    })
  })
}

/** Registers a connect-proxy instance for `destination` in the catalog, with a passing check. */
export async function registerProxy (agentHttp: string, o: { node: string, id: string, destination: string, port: number, address?: string }): Promise<void> {
  const answer = await http(agentHttp, 'PUT', '/v1/catalog/register', {
    body: JSON.stringify({
      Node: o.node,
      Address: o.address ?? '127.0.0.1',
      Service: { ID: o.id, Service: `${o.destination}-proxy`, Kind: 'connect-proxy', Port: o.port, Proxy: { DestinationServiceName: o.destination } },
      Checks: [{ CheckID: `${o.id}:alive`, Name: 'proxy alive', Status: 'passing', ServiceID: o.id }]
    })
  })
  if (answer.status !== 200) throw new Error(`catalog register ${o.id}: ${answer.status} ${answer.text}`)
}

/** The JSON log lines of a proxy process with msg === `message`. */
export function logLines (proc: Spawned, message: string): Array<Record<string, unknown>> {
  return proc.logs().split('\n').flatMap(line => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>
      return parsed.msg === message ? [parsed] : []
    } catch {
      return []
    }
  })
}
