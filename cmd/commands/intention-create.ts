/**
 * `weft intention create [-allow|-deny] [-replace] [-description D] [-meta k=v]... SRC DST`
 * (Consul's `intention create`, spec §8.4). Creates the intention with the legacy
 * POST /v1/connect/intentions and prints `Created: web => socat (deny)`. With -replace, an
 * intention already there for the pair is looked up (GET /exact) and overwritten in place
 * (PUT /<id>), printing nothing, as Consul does; without it a second intention for the pair
 * fails with the server's text:
 * `Error creating intention "web => socat (deny)": Unexpected response code: 500 (duplicate intention found: ...)`.
 *
 * Names may be `name`, `ns/name` or `partition/ns/name` (the agent refuses non-default ones).
 * Argument errors print Consul's texts and exit 1, as Consul's command does. `-file` is not
 * supported (yet): the request is the two names and the flags.
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagBoolean, flagString, flagStringList, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { describeIntention, formatSide, parseIntention, parseJsonBody } from '../intention.js'

export interface IntentionTarget {
  readonly namespace: string
  readonly name: string
}

export interface IntentionCreateRequest {
  readonly source: IntentionTarget
  readonly destination: IntentionTarget
  readonly action: 'allow' | 'deny'
  readonly replace: boolean
  readonly description: string
  readonly meta: Readonly<Record<string, string>>
}

/** Consul's argument errors are printed as they are and exit 1 (not usage errors). */
export type Refusal = { readonly kind: 'refuse', readonly message: string, readonly status: number }

const flags: readonly FlagSpec[] = [
  { name: 'allow', kind: 'boolean', description: 'Create an intention that allows when matched (the default).' },
  { name: 'deny', kind: 'boolean', description: 'Create an intention that denies when matched.' },
  { name: 'replace', kind: 'boolean', description: 'Replace the intention of the same source and destination, if there is one.' },
  { name: 'description', kind: 'string', valueName: 'text', description: 'A description of the intention (at most 512 characters).' },
  {
    name: 'meta',
    kind: 'stringList',
    valueName: 'key=value',
    description: 'Metadata to set on the intention, formatted as key=value. May be given several times.'
  },
  ...httpClientFlags,
  ...httpServerFlags
]

/** Consul's ParseIntentionTarget: `name`, `ns/name` or `partition/ns/name` (the partition is dropped: CE). */
export function parseIntentionTarget (text: string): IntentionTarget | null {
  const parts = text.split('/')
  if (parts.length > 3) return null
  return { namespace: parts.length >= 2 ? parts[parts.length - 2] as string : '', name: parts[parts.length - 1] as string }
}

export function parseMetaFlags (values: readonly string[]): Record<string, string> {
  const meta: Record<string, string> = {}
  for (const value of values) {
    const equals = value.indexOf('=')
    if (equals < 0) throw usageError(`invalid value "${value}" for flag -meta: Missing "=" value in argument: ${value}`)
    meta[value.slice(0, equals)] = value.slice(equals + 1)
  }
  return meta
}

export function parseIntentionCreate (input: CommandInput): IntentionCreateRequest | Refusal {
  const allow = flagBoolean(input.flags, 'allow')
  const deny = flagBoolean(input.flags, 'deny')
  const meta = parseMetaFlags(flagStringList(input.flags, 'meta'))
  if (allow && deny) return { kind: 'refuse', message: 'Only one of -allow or -deny may be specified.', status: exitFailure }
  if (input.args.length !== 2) return { kind: 'refuse', message: 'Error: Must specify two arguments: source and destination', status: exitFailure }
  const source = parseIntentionTarget(input.args[0] as string)
  if (source === null) return { kind: 'refuse', message: "Error: Invalid intention source: input can contain at most two '/'", status: exitFailure }
  const destination = parseIntentionTarget(input.args[1] as string)
  if (destination === null) return { kind: 'refuse', message: "Error: Invalid intention destination: input can contain at most two '/'", status: exitFailure }
  return {
    source,
    destination,
    action: deny ? 'deny' : 'allow',
    replace: flagBoolean(input.flags, 'replace'),
    description: flagString(input.flags, 'description') ?? '',
    meta
  }
}

/** The API body of the intention (legacy create and update by ID). */
export function intentionBody (request: IntentionCreateRequest): Record<string, unknown> {
  return {
    SourceNS: request.source.namespace,
    SourceName: request.source.name,
    DestinationNS: request.destination.namespace,
    DestinationName: request.destination.name,
    SourceType: 'consul',
    Action: request.action,
    Description: request.description,
    Meta: request.meta
  }
}

async function runIntentionCreate (request: IntentionCreateRequest | Refusal, context: RunContext): Promise<number> {
  const { io } = context
  if ('kind' in request) {
    writeErrorLine(io, request.message)
    return request.status
  }
  const label = describeIntention({
    sourceNs: request.source.namespace,
    sourceName: request.source.name,
    destinationNs: request.destination.namespace,
    destinationName: request.destination.name,
    action: request.action,
    permissions: []
  })
  const body = Buffer.from(JSON.stringify(intentionBody(request)), 'utf8')
  const source = formatSide(request.source.namespace, request.source.name)
  const destination = formatSide(request.destination.namespace, request.destination.name)
  if (request.replace) {
    let existingId: string | null
    try {
      existingId = await findExisting(context, source, destination)
    } catch (err) {
      return reportRequestFailure(io, `Error looking up intention for replacement with source ${JSON.stringify(source)} and destination ${JSON.stringify(destination)}`, err)
    }
    if (existingId !== null) {
      try {
        await (await context.agent()).request({ method: 'PUT', path: `/v1/connect/intentions/${encodeURIComponent(existingId)}`, body })
      } catch (err) {
        return reportRequestFailure(io, `Error replacing intention with source ${JSON.stringify(source)} and destination ${JSON.stringify(destination)}`, err)
      }
      return exitSuccess
    }
  }
  try {
    await (await context.agent()).request({ method: 'POST', path: '/v1/connect/intentions', body })
  } catch (err) {
    return reportRequestFailure(io, `Error creating intention ${JSON.stringify(label)}`, err)
  }
  writeLine(io, `Created: ${label}`)
  return exitSuccess
}

/** The ID of the pair's intention, or null when there is none (404). */
async function findExisting (context: RunContext, source: string, destination: string): Promise<string | null> {
  const client = await context.agent()
  // A 404's body is text ("Intention not found"), so JSON is read only from a 200.
  const answer = await client.request({ method: 'GET', path: '/v1/connect/intentions/exact', query: { source, destination }, answerStatuses: [404] })
  if (answer.status === 404) return null
  return parseIntention(parseJsonBody(answer.body, 'GET /v1/connect/intentions/exact'), 'GET /v1/connect/intentions/exact').id
}

export const intentionCreateCommand = defineCommand<IntentionCreateRequest | Refusal>({
  path: ['intention', 'create'],
  summary: 'Create intentions for service connections',
  usage: '[options] SRC DST',
  help: [
    'Creates an intention from SRC to DST. An "allow" intention is created by',
    'default; -deny creates a "deny" intention. If an intention for the pair',
    'exists, creation fails unless -replace is given, which overwrites it.',
    '',
    '    $ weft intention create web db',
    '    $ weft intention create -deny -meta team=payments web db',
    '    $ weft intention create -replace -allow web db'
  ].join('\n'),
  flags,
  parse: parseIntentionCreate,
  run: runIntentionCreate
})
