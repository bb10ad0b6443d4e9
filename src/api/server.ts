/**
 * The agent's HTTP API: fastify 5 with Consul's conventions made exact (spec §1).
 *
 * Request flow, in order:
 *   1. onRequest: configured response headers; the Content-Type header is dropped (Consul
 *      ignores it, and fastify would answer 415 for a malformed one); paths with non-printable
 *      characters → 400; for routed paths OPTIONS → 200 + Allow and a method the route lacks →
 *      405 `method X not allowed` + Allow; the shared query checks (?dc, ?ns, unsupported
 *      params); the token is resolved (?token, X-Consul-Token, Bearer) and passed through the
 *      authorize hook. All of this happens before a byte of the body is read.
 *   2. The catch-all body parser reads the raw body into one bounded buffer (body.ts); JSON
 *      endpoints parse it themselves so malformed JSON gets Consul's 400 text. A snapshot body
 *      is not read here but handed to the handler as a stream (ApiRequest.bodyStream); if the
 *      handler fails before the stream's end, the rest is drained (bounded) before the error
 *      reply, or the connection is closed after it.
 *   3. The handler for (route, method) turns an ApiRequest into an ApiReply (handlers/*.ts);
 *      sendReply writes it (JSON compact, or pretty with ?pretty or dev mode).
 *   4. Errors from any step go to the error handler: one table (errors.ts) picks the status and
 *      the text/plain body; 500s are logged at error level with the real error.
 *   5. onSend gzips larger JSON/text replies when the client accepts gzip; onResponse logs one
 *      debug line per request with the token redacted. Tokens and headers are never logged.
 *
 * Unknown paths get Consul's two 404 texts, GET / its UI-disabled text, and a prefix route named
 * without its trailing slash a 301 to it (as Go's ServeMux does).
 *
 * Callers: src/agent (composition root) and test/unit/api.
 */
import { promisify } from 'node:util'
import { gzip as gzipCallback } from 'node:zlib'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { assert } from '../util/assert.js'
import { isControlPlaneError } from '../util/errors.js'
import { redactUrl, resolveToken } from './auth.js'
import { bodyBytesMaxFor, isStreamedBodyKind, readBody, StreamedBody, streamBody } from './body.js'
import { errorReply, invalidInput, textContentType } from './errors.js'
import { checkCommonParams } from './query.js'
import { serializeJson } from './reply.js'
import { allowedMethods, allowHeader, routes, type RouteDefinition } from './routes.js'
import {
  defaultHttpLimits, type ApiReply, type ApiRequest, type AuthorizeHook, type HandlerContext, type HttpApiOptions,
  type HttpLimits, type HttpMethod
} from './types.js'
import { QueryParams } from './validate.js'

const gzip = promisify(gzipCallback)

export const uiDisabledText = 'weft agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart.'
export const notFoundV1Text = 'Invalid URL path: not a recognized HTTP API endpoint\n'
export const notFoundOtherText = "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"

/** gziphandler's DefaultMinSize: smaller replies are not worth compressing. */
const gzipBytesMin = 1400

export interface HttpApi {
  /** Starts listening; resolves with the bound address (port 0 picks a free port). Call once. */
  listen (host: string, port: number): Promise<{ readonly address: string, readonly port: number }>
  /** Stops listening and closes every connection, including blocking queries still waiting. */
  close (): Promise<void>
}

/** Per-request state decided in onRequest, before the body is read. */
interface RequestState {
  readonly route: RouteDefinition
  readonly query: QueryParams
  readonly token: string | null
  readonly pretty: boolean
}

interface ServerParts {
  readonly app: FastifyInstance
  readonly context: HandlerContext
  readonly options: HttpApiOptions
  readonly routeByUrl: ReadonlyMap<string, RouteDefinition>
  readonly states: WeakMap<FastifyRequest, RequestState>
  readonly authorize: AuthorizeHook
}

export function createHttpApi (options: HttpApiOptions): HttpApi {
  const limits = resolveLimits(options.limits ?? {})
  const log = options.logger.child({ component: 'http' })
  const app = Fastify({
    logger: false, // requests are logged by our onResponse hook, with the token redacted
    exposeHeadRoutes: false,
    forceCloseConnections: true,
    return503OnClosing: true,
    frameworkErrors: (error, _request, reply) => { sendText(reply, 400, `Invalid URL path: ${error.message}`) }
  })
  const parts: ServerParts = {
    app,
    context: { serverApi: options.serverApi, agentApi: options.agentApi, limits, random: options.random ?? Math.random, log },
    options,
    routeByUrl: new Map(routes.map(route => [fastifyUrl(route), route])),
    states: new WeakMap(),
    authorize: options.authorize ?? (async request => request.token)
  }
  registerHooks(parts)
  registerBodyParser(parts)
  registerRoutes(parts)
  registerFallbacks(parts)
  app.setErrorHandler((error, request, reply) => { sendError(parts, error, request, reply) })
  let hasListened = false
  return {
    async listen (host, port) {
      assert(!hasListened, 'HttpApi.listen called twice')
      hasListened = true
      await app.listen({ host, port })
      const bound = app.server.address() as AddressInfo
      log.info({ address: bound.address, port: bound.port }, 'http api listening')
      return { address: bound.address, port: bound.port }
    },
    async close () {
      await app.close()
    }
  }
}

function resolveLimits (input: Partial<HttpLimits>): HttpLimits {
  const limits: HttpLimits = { ...defaultHttpLimits, ...input }
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) throw invalidInput(`limits.${name} must be a positive integer, got ${String(value)}`)
  }
  if (limits.blockingWaitDefaultMs > limits.blockingWaitMaxMs) {
    throw invalidInput(`limits.blockingWaitDefaultMs must not exceed limits.blockingWaitMaxMs (${limits.blockingWaitMaxMs}), got ${limits.blockingWaitDefaultMs}`)
  }
  return Object.freeze(limits)
}

function fastifyUrl (route: RouteDefinition): string {
  return route.path.endsWith('/') ? `${route.path}*` : route.path
}

function routeOf (parts: ServerParts, request: FastifyRequest): RouteDefinition | undefined {
  const url = request.routeOptions.url
  return url === undefined ? undefined : parts.routeByUrl.get(url)
}

// ---------------------------------------------------------------------------------------------
// Hooks

function registerHooks (parts: ServerParts): void {
  const { app, options, context } = parts
  app.addHook('onRequest', async (request, reply) => {
    if (options.responseHeaders !== undefined) reply.headers(options.responseHeaders)
    // Consul ignores Content-Type (node-consul sends KV values as text/plain); without the header
    // fastify hands every body to the catch-all parser instead of answering 415.
    delete request.raw.headers['content-type']
    const unprintable = unprintablePathProblem(request.url)
    if (unprintable !== null) return sendText(reply, 400, unprintable)
    const route = routeOf(parts, request)
    if (route === undefined) return
    if (request.method === 'OPTIONS') return reply.code(200).header('Allow', allowHeader(route)).send()
    if (!(allowedMethods(route) as string[]).includes(request.method)) {
      reply.header('Allow', allowHeader(route))
      return sendText(reply, 405, `method ${request.method} not allowed`)
    }
    parts.states.set(request, await requestState(parts, route, request))
  })
  app.addHook('onSend', async (request, reply, payload) => await maybeGzip(request, reply, payload))
  app.addHook('onResponse', async (request, reply) => {
    context.log.debug({
      reqId: request.id,
      method: request.method,
      url: redactUrl(request.url),
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime)
    }, 'request finished')
  })
}

async function requestState (parts: ServerParts, route: RouteDefinition, request: FastifyRequest): Promise<RequestState> {
  const query = new QueryParams(request.query)
  checkCommonParams(query, request.headers, parts.options.datacenter ?? null)
  const carried = resolveToken(query, request.headers)
  const token = await parts.authorize({ method: request.method, route: route.path, token: carried })
  return { route, query, token, pretty: parts.options.pretty || query.has('pretty') }
}

/** Go's unicode.IsPrint, as Consul's PrintablePathCheckHandler applies it to the decoded path. */
const nonPrintable = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u

function unprintablePathProblem (url: string): string | null {
  const queryStart = url.indexOf('?')
  const rawPath = queryStart === -1 ? url : url.slice(0, queryStart)
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return `Invalid URL path: ${JSON.stringify(rawPath)} is not validly percent-encoded`
  }
  const match = nonPrintable.exec(path)
  if (match === null) return null
  const codePoint = match[0].codePointAt(0) ?? 0
  return `Invalid URL path: it contains the non-printable character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`
}

async function maybeGzip (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const acceptEncoding = request.headers['accept-encoding']
  if (typeof acceptEncoding !== 'string' || !/\bgzip\b/i.test(acceptEncoding)) return payload
  if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload
  const contentType = String(reply.getHeader('content-type') ?? '')
  if (!contentType.startsWith('application/json') && !contentType.startsWith('text/plain')) return payload
  if (Buffer.byteLength(payload) < gzipBytesMin) return payload
  reply.header('Content-Encoding', 'gzip')
  reply.header('Vary', 'Accept-Encoding')
  reply.removeHeader('content-length')
  return await gzip(payload)
}

// ---------------------------------------------------------------------------------------------
// Bodies, routes, fallbacks

function registerBodyParser (parts: ServerParts): void {
  const { app, context } = parts
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', async (request: FastifyRequest, payload: Readable) => {
    const kind = routeOf(parts, request)?.bodyKind ?? 'none'
    const contentLengthHeader = request.headers['content-length']
    const contentLength = contentLengthHeader === undefined ? null : Number(contentLengthHeader)
    const options = { kind, bytesMax: bodyBytesMaxFor(kind, context.limits), contentLength }
    return isStreamedBodyKind(kind) ? await streamBody(payload, options) : await readBody(payload, options)
  })
}

const emptyBody = new Uint8Array(0)

function registerRoutes (parts: ServerParts): void {
  const { app } = parts
  for (const route of routes) {
    app.all(fastifyUrl(route), async (request, reply) => await handle(parts, route, request, reply))
    const bare = route.path.slice(0, -1)
    // A subtree whose bare name is a route of its own (/v1/connect/intentions) is not redirected.
    if (route.path.endsWith('/') && !routes.some(other => other.path === bare)) {
      app.all(bare, async (request, reply) => redirectToSubtree(request, reply, route.path))
    }
  }
}

async function handle (parts: ServerParts, route: RouteDefinition, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const state = parts.states.get(request)
  const handler = route.handlers[request.method as HttpMethod]
  assert(state !== undefined && handler !== undefined, 'onRequest must have vetted the route and method')
  const bodyStream = request.body instanceof StreamedBody ? request.body : null
  const apiRequest: ApiRequest = {
    method: request.method as HttpMethod,
    tail: (request.params as Record<string, string | undefined>)['*'] ?? '',
    query: state.query,
    body: request.body instanceof Uint8Array ? request.body : emptyBody,
    bodyStream,
    token: state.token
  }
  let apiReply: ApiReply
  try {
    apiReply = await handler(apiRequest, parts.context)
  } catch (err) {
    // Unread body data would make the kernel reset the connection under the error reply.
    if (bodyStream !== null && !(await bodyStream.discardRest())) reply.header('Connection', 'close')
    throw err
  }
  return sendReply(reply, apiReply, state.pretty)
}

function sendReply (reply: FastifyReply, apiReply: ApiReply, pretty: boolean): FastifyReply {
  reply.code(apiReply.status)
  reply.headers(apiReply.headers)
  switch (apiReply.kind) {
    case 'json':
      // A Buffer keeps Consul's exact "application/json" (fastify appends a charset to strings).
      return reply.header('Content-Type', 'application/json').send(Buffer.from(serializeJson(apiReply.value, pretty), 'utf8'))
    case 'empty':
      return reply.send()
    case 'bytes':
      return reply.header('Content-Type', apiReply.contentType)
        .send(Buffer.from(apiReply.body.buffer, apiReply.body.byteOffset, apiReply.body.byteLength))
    case 'text':
      return reply.header('Content-Type', textContentType).send(apiReply.body)
  }
}

function sendText (reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.code(status).header('Content-Type', textContentType).send(body)
}

/** Go's ServeMux: naming a subtree root without its slash redirects there, query kept. */
function redirectToSubtree (request: FastifyRequest, reply: FastifyReply, target: string): FastifyReply {
  const queryStart = request.url.indexOf('?')
  const location = queryStart === -1 ? target : `${target}${request.url.slice(queryStart)}`
  reply.code(301).header('Location', location)
  if (request.method !== 'GET') return reply.send()
  return reply.header('Content-Type', 'text/html; charset=utf-8').send(`<a href="${target}">Moved Permanently</a>.\n\n`)
}

function registerFallbacks (parts: ServerParts): void {
  const { app } = parts
  app.all('/', async (_request, reply) => sendText(reply, 200, uiDisabledText))
  app.setNotFoundHandler(async (request, reply) => {
    return sendText(reply, 404, request.url.startsWith('/v1/') ? notFoundV1Text : notFoundOtherText)
  })
}

// ---------------------------------------------------------------------------------------------
// Errors

function sendError (parts: ServerParts, error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const log: Logger = parts.context.log
  const fields = { reqId: request.id, method: request.method, url: redactUrl(request.url) }
  const framework = error as Partial<FastifyError> | null
  const frameworkStatus = framework?.statusCode
  if (!isControlPlaneError(error) && typeof frameworkStatus === 'number' && frameworkStatus >= 400 && frameworkStatus < 500) {
    const message = String(framework?.message ?? '')
    log.debug({ ...fields, statusCode: frameworkStatus, message }, 'request rejected')
    sendText(reply, frameworkStatus, message)
    return
  }
  const mapped = errorReply(error)
  if (mapped.isInternal) log.error({ ...fields, err: error }, 'request failed')
  else log.debug({ ...fields, statusCode: mapped.status, code: (error as { code?: unknown }).code, message: mapped.body }, 'request rejected')
  sendText(reply, mapped.status, mapped.body)
}
