/**
 * The query parameters every endpoint shares (spec §1.5-§1.7): consistency modes, blocking
 * queries, datacenter and Enterprise scoping, and parameters weft does not support yet.
 *
 * Parse order follows Consul's `parse`: consistency, then ?wait, then ?index, so the first error
 * a client sees is the one Consul would show. The wait is capped and jittered here (up to
 * wait/16, as Consul's blockingQuery does) and handed to the server, which does the waiting.
 *
 * Callers: server.ts (`checkCommonParams`, every routed /v1 request) and read handlers
 * (`readOptions`).
 */
import type { Consistency, QueryOptions } from '../rpc/types.js'
import { invalidInput } from './errors.js'
import { parseGoDurationNs } from '../util/go-duration.js'
import type { ApiRequest, HandlerContext } from './types.js'
import { describe, parseUnsigned, type QueryParams } from './validate.js'

/** Consul's JitterFraction: a blocking query waits up to wait/16 longer, spreading wake-ups. */
const jitterFraction = 16

export function parseConsistency (query: QueryParams): Consistency {
  const isStale = query.has('stale') || maxStaleIsSet(query)
  const isConsistent = query.has('consistent')
  if (isStale && isConsistent) throw invalidInput('Cannot specify ?stale with ?consistent, conflicting semantics.')
  if (query.has('cached') && isConsistent) throw invalidInput('Cannot specify ?cached with ?consistent, conflicting semantics.')
  if (isStale) return 'stale'
  return isConsistent ? 'consistent' : 'default'
}

/** `?max_stale=<dur>` makes a read stale (the leader retry on old data is the server's business). */
function maxStaleIsSet (query: QueryParams): boolean {
  const text = query.get('max_stale')
  if (text === null || text === '') return false
  const durationNs = parseGoDurationNs(text)
  if (durationNs === null) throw invalidInput(`Invalid max_stale value ${JSON.stringify(text)}`)
  return durationNs > 0
}

export interface Blocking {
  readonly minQueryIndex: number
  readonly maxQueryTimeMs: number
}

export function parseBlocking (query: QueryParams, context: HandlerContext): Blocking {
  const waitText = query.get('wait')
  let waitMs = 0
  if (waitText !== null && waitText !== '') {
    const durationNs = parseGoDurationNs(waitText)
    if (durationNs === null) throw invalidInput('Invalid wait time')
    waitMs = Math.ceil(durationNs / 1e6)
  }
  const indexText = query.get('index')
  let minQueryIndex = 0
  if (indexText !== null && indexText !== '') {
    const index = parseUnsigned(indexText)
    if (index === null) throw invalidInput('Invalid index')
    minQueryIndex = index
  }
  const { blockingWaitDefaultMs, blockingWaitMaxMs } = context.limits
  const cappedMs = waitMs <= 0 ? blockingWaitDefaultMs : Math.min(waitMs, blockingWaitMaxMs)
  const jitterMs = minQueryIndex > 0 ? Math.floor(context.random() * (cappedMs / jitterFraction)) : 0
  return { minQueryIndex, maxQueryTimeMs: cappedMs + jitterMs }
}

/** QueryOptions for a read. `blocking: false` for reads that never block (txn, operator). */
export function readOptions (request: ApiRequest, context: HandlerContext, options: { readonly blocking: boolean }): QueryOptions {
  const consistency = parseConsistency(request.query)
  const blocking = parseBlocking(request.query, context)
  return {
    consistency,
    minQueryIndex: options.blocking ? blocking.minQueryIndex : 0,
    maxQueryTimeMs: blocking.maxQueryTimeMs,
    token: request.token
  }
}

const enterpriseScopes = [
  { param: 'ns', header: 'x-consul-namespace', name: 'Namespace' },
  { param: 'partition', header: 'x-consul-partition', name: 'Partition' }
] as const

/** Parameters not implemented yet: silently ignoring them would return wrong results. */
const unsupportedParams = ['filter', 'node-meta'] as const

/**
 * Checks shared by every /v1 endpoint: the datacenter, Enterprise scoping (CE accepts only
 * "default" or empty), and parameters weft refuses rather than ignores.
 */
export function checkCommonParams (query: QueryParams, headers: Readonly<Record<string, string | string[] | undefined>>, datacenter: string | null): void {
  const dc = query.get('dc')
  if (datacenter !== null && dc !== null && dc !== '' && dc !== datacenter) {
    throw invalidInput(`No path to datacenter: ?dc must be this agent's datacenter ${JSON.stringify(datacenter)}, got ${describe(dc)}`)
  }
  for (const scope of enterpriseScopes) {
    const header = headers[scope.header]
    const value = query.get(scope.param) ?? (Array.isArray(header) ? header[0] : header) ?? ''
    if (value !== '' && value !== 'default') {
      throw invalidInput(`"${scope.name}" is an Enterprise-only feature: ?${scope.param} must be "default" or empty, got ${describe(value)}`)
    }
  }
  for (const name of unsupportedParams) {
    const value = query.get(name)
    // TODO(api): implement the ?filter subset of spec §1.7 and ?node-meta (#3 follow-up).
    if (value !== null) throw invalidInput(`?${name} is not supported by weft yet, got ${describe(value)}`)
  }
}
