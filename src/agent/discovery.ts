/**
 * Member discovery on the LAN port (default 8301/TCP) until SWIM gossip replaces it (#5): one
 * request per connection, one JSON line each way.
 *
 *   { type: 'hello' }               -> { ok: true, member: MemberInfo }
 *   { type: 'join', member }        -> { ok: true, member: MemberInfo } (the receiver admits the
 *                                      joiner's RPC key; a leader adds a new server as learner)
 *
 * With a gossip key (`encrypt`) every line is sealed with AES-GCM under that key, so only agents
 * holding the key can discover or join; without one the exchange is plain, as Consul's gossip is
 * without `encrypt`. Lines are capped at lineBytesMax; anything malformed is answered with
 * { ok: false, error } and the connection closed. It never throws into the listener.
 */
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM, type DecipherGCM } from 'node:crypto'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { ControlPlaneError } from '../util/errors.js'

export interface MemberInfo {
  readonly nodeId: string
  readonly name: string
  readonly datacenter: string
  readonly role: 'server' | 'client'
  /** `tcp://host:port` of the member's ZeroMQ RPC socket. */
  readonly rpcEndpoint: string
  /** The member's CURVE public key (Z85). */
  readonly publicKey: string
  /** Servers: whether this server has Raft state (bootstrapped or joined). */
  readonly bootstrapped: boolean
  readonly leaderId: string | null
  readonly httpAddress: string
}

export type DiscoveryRequest =
  | { readonly type: 'hello' }
  | { readonly type: 'join', readonly member: MemberInfo }

export type DiscoveryReply =
  | { readonly ok: true, readonly member: MemberInfo }
  | { readonly ok: false, readonly error: string }

const lineBytesMax = 64 * 1024
const defaultPort = 8301

export interface DiscoveryServerOptions {
  readonly host: string
  readonly port: number
  /** Base64 gossip key (16, 24 or 32 bytes) or null for plain lines. */
  readonly key: string | null
  readonly handle: (request: DiscoveryRequest, remoteAddress: string) => Promise<DiscoveryReply>
  readonly logger: { warn (fields: Record<string, unknown>, message: string): void }
}

export async function startDiscoveryServer (options: DiscoveryServerOptions): Promise<{ port: number, close: () => Promise<void> }> {
  const key = options.key === null ? null : decodeKey(options.key)
  let lastWarnMs = 0
  const server: Server = createServer(socket => {
    socket.setTimeout(5_000, () => socket.destroy())
    readLine(socket).then(async line => {
      const request = parseRequest(open(line, key))
      const reply = typeof request === 'string' ? { ok: false as const, error: request } : await options.handle(request, socket.remoteAddress ?? '')
      socket.end(seal(JSON.stringify(reply), key) + '\n')
    }).catch((err: Error) => {
      const now = Date.now()
      if (now - lastWarnMs > 1_000) {
        lastWarnMs = now
        options.logger.warn({ remote: socket.remoteAddress, reason: err.message }, 'dropped a discovery request')
      }
      socket.destroy()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => resolve())
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : options.port,
    close: async () => await new Promise<void>(resolve => server.close(() => resolve()))
  }
}

/** Sends one request to `address` (`host` or `host:port`, default port 8301). */
export async function discoveryExchange (address: string, request: DiscoveryRequest, options: { key: string | null, timeoutMs: number }): Promise<MemberInfo> {
  const { host, port } = splitAddress(address)
  const key = options.key === null ? null : decodeKey(options.key)
  const socket = createConnection({ host, port })
  socket.setTimeout(options.timeoutMs, () => socket.destroy(new Error(`no answer from ${host}:${port} within ${options.timeoutMs} ms`)))
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.write(seal(JSON.stringify(request), key) + '\n')
    const reply = JSON.parse(open(await readLine(socket), key)) as DiscoveryReply
    if (!reply.ok) throw new ControlPlaneError('ERR_TRANSPORT', `${host}:${port} refused: ${reply.error}`)
    return reply.member
  } finally {
    socket.destroy()
  }
}

export function splitAddress (address: string): { host: string, port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(address.trim())
  if (match === null) throw new ControlPlaneError('ERR_INVALID_INPUT', `join address ${JSON.stringify(address)} is not host or host:port`)
  const port = match[2] === undefined ? defaultPort : Number(match[2])
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ControlPlaneError('ERR_INVALID_INPUT', `join address ${address} has an invalid port`)
  return { host: match[1]!, port }
}

async function readLine (socket: Socket): Promise<string> {
  return await new Promise((resolve, reject) => {
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const newline = buffer.indexOf('\n')
      if (newline >= 0) resolve(buffer.slice(0, newline))
      else if (buffer.length > lineBytesMax) reject(new Error(`line longer than ${lineBytesMax} bytes`))
    })
    socket.once('error', reject)
    socket.once('end', () => reject(new Error('connection closed before a full line')))
  })
}

function parseRequest (text: string): DiscoveryRequest | string {
  let value: unknown
  try { value = JSON.parse(text) } catch { return 'request is not JSON' }
  const request = value as { type?: unknown, member?: unknown }
  if (request.type === 'hello') return { type: 'hello' }
  if (request.type === 'join' && isMemberInfo(request.member)) return { type: 'join', member: request.member }
  return 'unknown or malformed request'
}

function isMemberInfo (value: unknown): value is MemberInfo {
  const m = value as Record<string, unknown> | null
  return typeof m === 'object' && m !== null &&
    typeof m.nodeId === 'string' && typeof m.name === 'string' && typeof m.datacenter === 'string' &&
    (m.role === 'server' || m.role === 'client') && typeof m.rpcEndpoint === 'string' &&
    typeof m.publicKey === 'string' && m.publicKey.length === 40 && typeof m.bootstrapped === 'boolean' &&
    typeof m.httpAddress === 'string'
}

function decodeKey (base64: string): Buffer {
  const key = Buffer.from(base64, 'base64')
  if (![16, 24, 32].includes(key.byteLength)) throw new ControlPlaneError('ERR_INVALID_INPUT', 'the gossip key must decode to 16, 24 or 32 bytes')
  return key
}

function seal (text: string, key: Buffer | null): string {
  if (key === null) return text
  const nonce = randomBytes(12)
  const cipher = createCipheriv(`aes-${key.byteLength * 8}-gcm`, key, nonce) as CipherGCM
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64')
}

function open (line: string, key: Buffer | null): string {
  if (key === null) return line
  const bytes = Buffer.from(line, 'base64')
  if (bytes.byteLength < 28) throw new Error('sealed line too short: wrong or missing gossip key?')
  const decipher = createDecipheriv(`aes-${key.byteLength * 8}-gcm`, key, bytes.subarray(0, 12)) as DecipherGCM
  decipher.setAuthTag(bytes.subarray(bytes.byteLength - 16))
  try {
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.byteLength - 16)), decipher.final()]).toString('utf8')
  } catch {
    throw new Error('line failed to decrypt: the sender uses another gossip key')
  }
}
