/**
 * Intentions (#4, spec §8): the shapes that cross the ServerApi, the validation of a user's
 * intention (Consul's rules and messages, §8.1), the reply object (§8.1's JSON), and the one
 * evaluation of "may S talk to D" (§8.3, §7.3 steps 4-5) that both the servers' /check and
 * every agent's /v1/agent/connect/authorize use.
 *
 * Everything here is pure: no clock, no randomness, no I/O. The leader's RPC code
 * (intention-endpoints.ts) decides IDs and timestamps and proposes; the agent's cache
 * (src/agent/intention-cache.ts) evaluates against its copy of the list.
 *
 * Validation happens before a command exists, so nothing invalid reaches the Raft log; the
 * FSM's own shape check (src/fsm/inputs.ts validateIntention) runs again on encode as a
 * backstop. Problems are all reported at once in Consul's multierror text
 * ("1 error occurred:\n\t* Action must be set to 'allow' or 'deny', got \"permit\"\n\n"),
 * each message starting with Consul's own sentence and naming the value received; the code is
 * ERR_INVALID_INPUT, so the HTTP status is 400 (spec §18.5; Consul answers 500).
 *
 * CE scope: namespaces are always "default" ("" is read as "default"); any other namespace,
 * including the "*" wildcard namespace, is an Enterprise feature and refused.
 *
 * Callers: intention-endpoints.ts, types.ts (shapes), src/api/handlers/intentions.ts (shapes),
 * src/agent/intention-cache.ts (evaluation), test doubles.
 */
import { ControlPlaneError } from '../util/errors.js'

export const intentionWildcard = '*'
export const defaultNamespace = 'default'

/** Consul's limits (structs.metaMaxKeyPairs and friends). */
export const intentionMetaPairsMax = 64
export const intentionMetaKeyLengthMax = 128
export const intentionMetaValueLengthMax = 512
export const intentionDescriptionLengthMax = 512
/** weft's limits: Consul sets none, but every input gets a bound. */
export const intentionNameLengthMax = 256
export const intentionPermissionsMax = 128
export const intentionHeadersMax = 64

// ---------------------------------------------------------------------------------------------
// Shapes

/** An L7 permission as stored and shown (§8.1); only the known fields survive validation. */
export type IntentionPermission = Readonly<Record<string, unknown>>

/**
 * What a client sends (the body of POST /v1/connect/intentions and PUT /<id>, or the /exact
 * body plus the names from its query). Absent fields take Consul's defaults: namespaces
 * "default", SourceType "consul", Description "", Meta {}, Permissions [].
 */
export interface IntentionRequest {
  readonly SourceNS?: string
  readonly SourceName?: string
  readonly DestinationNS?: string
  readonly DestinationName?: string
  readonly SourceType?: string
  readonly Action?: string
  readonly Description?: string
  readonly Meta?: Readonly<Record<string, string>>
  readonly Permissions?: readonly unknown[]
}

/** A validated request: every field present and canonical. */
export interface IntentionFields {
  readonly SourceNS: string
  readonly SourceName: string
  readonly DestinationNS: string
  readonly DestinationName: string
  readonly SourceType: string
  /** '' exactly when Permissions is non-empty. */
  readonly Action: 'allow' | 'deny' | ''
  readonly Description: string
  readonly Meta: Readonly<Record<string, string>>
  readonly Permissions: readonly IntentionPermission[]
}

/**
 * An intention as the API shows it (§8.1), keys in Consul's order. `Action` is absent for L7
 * intentions and `Permissions` present only for them; `Meta` is `{}` when empty.
 */
export interface IntentionReply {
  readonly ID: string
  readonly Description: string
  readonly SourceNS: string
  readonly SourceName: string
  readonly DestinationNS: string
  readonly DestinationName: string
  readonly SourceType: string
  readonly Action?: 'allow' | 'deny'
  readonly Permissions?: readonly IntentionPermission[]
  readonly Meta: Readonly<Record<string, string>>
  readonly Precedence: number
  readonly CreatedAt: string
  readonly UpdatedAt: string
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

/** The fields of a stored row that the reply is built from (src/fsm IntentionRow has them all). */
export interface IntentionRowLike {
  readonly ID: string
  readonly Description: string
  readonly SourceNS: string
  readonly SourceName: string
  readonly DestinationNS: string
  readonly DestinationName: string
  readonly SourceType: string
  readonly Action: 'allow' | 'deny' | ''
  readonly Permissions: readonly unknown[]
  readonly Meta: Readonly<Record<string, string>>
  readonly Precedence: number
  readonly CreatedAt: string
  readonly UpdatedAt: string
  readonly CreateIndex: number
  readonly ModifyIndex: number
}

/** Which intention a delete names: by ID (legacy) or by the source/destination names (/exact). */
export type IntentionSelector =
  | { readonly By: 'id', readonly ID: string }
  | { readonly By: 'pair', readonly Source: string, readonly Destination: string }

export type IntentionMatchBy = 'source' | 'destination'

/** What decides the answer when no intention matches (§8.3): the ACL configuration. */
export interface IntentionDefault {
  readonly aclsEnabled: boolean
  readonly aclDefaultPolicy: 'allow' | 'deny'
}

export interface IntentionDecision {
  readonly authorized: boolean
  /** §7.3's Reason text. */
  readonly reason: string
  /** The intention that decided, or null when the default did. */
  readonly matched: IntentionReply | null
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Checks a client's intention and fills in defaults. Throws ERR_INVALID_INPUT listing every
 * problem (Consul's multierror text).
 */
export function validateIntentionRequest (request: IntentionRequest): IntentionFields {
  const problems: string[] = []
  const SourceNS = checkNamespace(request.SourceNS, 'SourceNS', problems)
  const SourceName = checkName(request.SourceName, 'SourceName', problems)
  const DestinationNS = checkNamespace(request.DestinationNS, 'DestinationNS', problems)
  const DestinationName = checkName(request.DestinationName, 'DestinationName', problems)
  const Description = request.Description ?? ''
  if (Description.length > intentionDescriptionLengthMax) {
    problems.push(`Description exceeds maximum length ${intentionDescriptionLengthMax}, got ${Description.length} characters`)
  }
  const Meta = checkMeta(request.Meta ?? {}, problems)
  const Permissions = checkPermissions(request.Permissions ?? [], problems)
  const Action = checkAction(request.Action ?? '', Permissions.length > 0, problems)
  const SourceType = request.SourceType === undefined || request.SourceType === '' ? 'consul' : request.SourceType
  if (SourceType !== 'consul') problems.push(`SourceType must be set to 'consul', got ${quote(SourceType)}`)
  if (problems.length > 0) throw invalidIntention(problems)
  return { SourceNS, SourceName, DestinationNS, DestinationName, SourceType, Action, Description, Meta, Permissions }
}

/** Consul's multierror text for a list of problems. */
export function multiErrorText (problems: readonly string[]): string {
  const heading = problems.length === 1 ? '1 error occurred:' : `${problems.length} errors occurred:`
  return `${heading}\n${problems.map(problem => `\t* ${problem}`).join('\n')}\n\n`
}

function invalidIntention (problems: readonly string[]): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', multiErrorText(problems), { details: { problems } })
}

function quote (value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}...` : value)
}

function checkNamespace (value: string | undefined, field: string, problems: string[]): string {
  if (value === undefined || value === '' || value === defaultNamespace) return defaultNamespace
  problems.push(`${field}: "Namespace" is an Enterprise-only feature: must be "default" or empty, got ${quote(value)}`)
  return defaultNamespace
}

/** Control characters, whitespace and '/' (which separates a namespace from a name). */
const badNameCharacter = /[\p{Cc}\p{Cf}\s/]/u

/** What is wrong with a service name (or `*`) in `field`, or null; also used for query parameters. */
export function nameProblem (value: string, field: string): string | null {
  if (value === '') return `${field} must be set`
  if (value.length > intentionNameLengthMax) return `${field} must be at most ${intentionNameLengthMax} characters, got ${value.length}`
  if (value !== intentionWildcard && value.includes(intentionWildcard)) {
    return `${field}: wildcard character '*' cannot be used with partial values, got ${quote(value)}`
  }
  if (badNameCharacter.test(value)) {
    return `${field} must be a service name without whitespace, control characters or '/', got ${quote(value)}`
  }
  return null
}

function checkName (value: string | undefined, field: string, problems: string[]): string {
  const problem = nameProblem(value ?? '', field)
  if (problem !== null) problems.push(problem)
  return value ?? ''
}

function checkMeta (meta: Readonly<Record<string, string>>, problems: string[]): Readonly<Record<string, string>> {
  const keys = Object.keys(meta).sort()
  if (keys.length > intentionMetaPairsMax) {
    problems.push(`Meta exceeds maximum element count ${intentionMetaPairsMax}, got ${keys.length}`)
  }
  const result: Record<string, string> = {}
  for (const key of keys) {
    const value = meta[key] ?? ''
    if (key === '') problems.push('Meta keys must not be empty')
    if (key.length > intentionMetaKeyLengthMax) problems.push(`Meta key ${quote(key)} exceeds maximum length ${intentionMetaKeyLengthMax}`)
    if (value.length > intentionMetaValueLengthMax) {
      problems.push(`Meta value for key ${quote(key)} exceeds maximum length ${intentionMetaValueLengthMax}`)
    }
    result[key] = value
  }
  return result
}

function checkAction (action: string, isL7: boolean, problems: string[]): 'allow' | 'deny' | '' {
  if (isL7) {
    if (action !== '') problems.push(`Action must be empty when Permissions are set (an L7 intention), got ${quote(action)}`)
    return ''
  }
  if (action === 'allow' || action === 'deny') return action
  problems.push(`Action must be set to 'allow' or 'deny', got ${quote(action)}`)
  return ''
}

// L7 permissions ------------------------------------------------------------------------------

const pathFields = ['PathExact', 'PathPrefix', 'PathRegex'] as const
const headerMatchFields = ['Present', 'Exact', 'Prefix', 'Suffix', 'Regex'] as const
const httpMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE'])

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Keeps the known fields of each permission, in a fixed order, or records what is wrong. */
function checkPermissions (permissions: readonly unknown[], problems: string[]): IntentionPermission[] {
  if (permissions.length > intentionPermissionsMax) {
    problems.push(`Permissions must hold at most ${intentionPermissionsMax} entries, got ${permissions.length}`)
    return []
  }
  return permissions.map((permission, index) => checkPermission(permission, `Permissions[${index}]`, problems))
}

function checkPermission (value: unknown, path: string, problems: string[]): IntentionPermission {
  if (!isObject(value)) {
    problems.push(`${path} must be an object with Action and HTTP`)
    return {}
  }
  const action = value.Action
  if (action !== 'allow' && action !== 'deny') problems.push(`${path}.Action must be set to 'allow' or 'deny', got ${describeJson(action)}`)
  if (!isObject(value.HTTP)) {
    problems.push(`${path}.HTTP must be set (an object with PathExact, PathPrefix, PathRegex, Methods or Header)`)
    return { Action: action as string }
  }
  return { Action: action as string, HTTP: checkHttp(value.HTTP, `${path}.HTTP`, problems) }
}

function checkHttp (http: Record<string, unknown>, path: string, problems: string[]): Record<string, unknown> {
  const problemsBefore = problems.length
  const result: Record<string, unknown> = {}
  const paths = pathFields.filter(field => http[field] !== undefined && http[field] !== '')
  if (paths.length > 1) problems.push(`${path} should only contain at most one of PathExact, PathPrefix, or PathRegex, got ${paths.join(', ')}`)
  for (const field of paths) {
    const value = http[field]
    if (typeof value !== 'string') problems.push(`${path}.${field} must be a string, got ${describeJson(value)}`)
    else if (field !== 'PathRegex' && !value.startsWith('/')) problems.push(`${path}.${field} must start with '/', got ${quote(value)}`)
    else result[field] = value
  }
  if (http.Methods !== undefined && http.Methods !== null) {
    const methods = http.Methods
    if (!Array.isArray(methods) || !methods.every(method => typeof method === 'string' && httpMethods.has(method))) {
      problems.push(`${path}.Methods must be a list of HTTP methods in upper case (GET, POST, ...), got ${describeJson(methods)}`)
    } else if (methods.length > 0) {
      result.Methods = [...methods]
    }
  }
  if (http.Header !== undefined && http.Header !== null) {
    const headers = http.Header
    if (!Array.isArray(headers) || headers.length > intentionHeadersMax) {
      problems.push(`${path}.Header must be a list of at most ${intentionHeadersMax} header matches, got ${describeJson(headers)}`)
    } else if (headers.length > 0) {
      result.Header = headers.map((header, index) => checkHeader(header, `${path}.Header[${index}]`, problems))
    }
  }
  if (Object.keys(result).length === 0 && problems.length === problemsBefore) {
    problems.push(`${path} must match on at least one of PathExact, PathPrefix, PathRegex, Methods or Header`)
  }
  return result
}

function checkHeader (value: unknown, path: string, problems: string[]): Record<string, unknown> {
  if (!isObject(value) || typeof value.Name !== 'string' || value.Name === '') {
    problems.push(`${path}.Name must be set`)
    return {}
  }
  const result: Record<string, unknown> = { Name: value.Name }
  const matches = headerMatchFields.filter(field => value[field] !== undefined && value[field] !== '' && value[field] !== false)
  if (matches.length > 1) problems.push(`${path} should only contain one of Present, Exact, Prefix, Suffix, or Regex, got ${matches.join(', ')}`)
  for (const field of matches) {
    const match = value[field]
    const expected = field === 'Present' ? 'boolean' : 'string'
    if (typeof match !== expected) problems.push(`${path}.${field} must be a ${expected}, got ${describeJson(match)}`)
    else result[field] = match
  }
  if (value.Invert === true) result.Invert = true
  return result
}

function describeJson (value: unknown): string {
  if (value === undefined) return 'nothing'
  const text = JSON.stringify(value)
  return text.length > 64 ? `${text.slice(0, 64)}...` : text
}

const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/

export function isUuid (text: string): boolean {
  return uuidPattern.test(text)
}

/** A malformed intention ID (400), for the HTTP layer and the endpoints alike. */
export function invalidIntentionId (id: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', `Intention ID must be a UUID (8-4-4-4-12 hex digits), got ${quote(id)}`)
}

// ---------------------------------------------------------------------------------------------
// Replies and text

export function intentionReply (row: IntentionRowLike): IntentionReply {
  return {
    ID: row.ID,
    Description: row.Description,
    SourceNS: row.SourceNS,
    SourceName: row.SourceName,
    DestinationNS: row.DestinationNS,
    DestinationName: row.DestinationName,
    SourceType: row.SourceType,
    ...(row.Action === '' ? { Permissions: row.Permissions as readonly IntentionPermission[] } : { Action: row.Action }),
    Meta: row.Meta,
    Precedence: row.Precedence,
    CreatedAt: row.CreatedAt,
    UpdatedAt: row.UpdatedAt,
    CreateIndex: row.CreateIndex,
    ModifyIndex: row.ModifyIndex
  }
}

/** Consul's Intention.String(): `web => db (allow)`, or `(2 permissions)` for L7. */
export function describeIntention (intention: Pick<IntentionReply, 'SourceNS' | 'SourceName' | 'DestinationNS' | 'DestinationName' | 'Action' | 'Permissions'>): string {
  const side = (namespace: string, name: string): string => namespace === '' || namespace === defaultNamespace ? name : `${namespace}/${name}`
  const count = intention.Permissions?.length ?? 0
  const action = count > 0 ? `${count} ${count === 1 ? 'permission' : 'permissions'}` : (intention.Action ?? '')
  return `${side(intention.SourceNS, intention.SourceName)} => ${side(intention.DestinationNS, intention.DestinationName)} (${action})`
}

/** Go's time.RFC3339Nano of an epoch-milliseconds instant, UTC: trailing fraction zeros dropped. */
export function formatGoTime (epochMs: number): string {
  const iso = new Date(epochMs).toISOString() // 2024-05-01T10:05:00.120Z
  const fraction = iso.slice(20, 23).replace(/0+$/, '')
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`
}

// ---------------------------------------------------------------------------------------------
// Evaluation (§8.3)

function compareBytes (a: string, b: string): number {
  if (a === b) return 0
  // Code point order is UTF-8 byte order; spreading compares code points, not UTF-16 units.
  const left = [...a]
  const right = [...b]
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    const difference = (left[i]!.codePointAt(0) ?? 0) - (right[i]!.codePointAt(0) ?? 0)
    if (difference !== 0) return difference
  }
  return left.length - right.length
}

/** Evaluation order: Precedence descending, then SourceNS, SourceName, DestinationNS, DestinationName ascending. */
export function compareIntentionOrder (a: IntentionReply, b: IntentionReply): number {
  return b.Precedence - a.Precedence ||
    compareBytes(a.SourceNS, b.SourceNS) ||
    compareBytes(a.SourceName, b.SourceName) ||
    compareBytes(a.DestinationNS, b.DestinationNS) ||
    compareBytes(a.DestinationName, b.DestinationName)
}

function sideMatches (namespace: string, name: string, wanted: string, wantedNamespace = defaultNamespace): boolean {
  const namespaceMatches = namespace === wantedNamespace || namespace === intentionWildcard
  return namespaceMatches && (name === wanted || name === intentionWildcard)
}

/** The intentions that apply to `name` on one side, in evaluation order (input must be in that order). */
export function matchIntentions (ordered: readonly IntentionReply[], by: IntentionMatchBy, name: string): IntentionReply[] {
  return ordered.filter(intention => by === 'destination'
    ? sideMatches(intention.DestinationNS, intention.DestinationName, name)
    : sideMatches(intention.SourceNS, intention.SourceName, name))
}

export interface IntentionQuestion {
  readonly source: string
  readonly destination: string
  /** The source's namespace (from its certificate); "default" when absent. */
  readonly sourceNamespace?: string
}

/**
 * May `source` open a connection to `destination`? The first intention (evaluation order) whose
 * destination and source both match decides: an L4 one by its Action, an L7 one denies (L4
 * callers cannot apply HTTP rules). No match: allow when ACLs are disabled, else the ACL
 * default policy. `ordered` must be in evaluation order.
 */
export function decideIntention (ordered: readonly IntentionReply[], request: IntentionQuestion, defaults: IntentionDefault): IntentionDecision {
  const sourceNamespace = request.sourceNamespace ?? defaultNamespace
  for (const intention of ordered) {
    if (!sideMatches(intention.DestinationNS, intention.DestinationName, request.destination)) continue
    if (!sideMatches(intention.SourceNS, intention.SourceName, request.source, sourceNamespace)) continue
    const isL7 = (intention.Permissions?.length ?? 0) > 0
    if (isL7) return { authorized: false, reason: `Matched L7 intention: ${describeIntention(intention)}`, matched: intention }
    return { authorized: intention.Action === 'allow', reason: `Matched L4 intention: ${describeIntention(intention)}`, matched: intention }
  }
  if (!defaults.aclsEnabled) return { authorized: true, reason: 'ACLs disabled, access is allowed by default', matched: null }
  return { authorized: defaults.aclDefaultPolicy === 'allow', reason: 'Default behavior configured by ACLs', matched: null }
}
