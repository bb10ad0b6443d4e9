/**
 * `weft intention match [-source|-destination] NAME` (spec §8.4): the intentions that apply to
 * NAME as a destination (the default) or as a source, one `String()` line each, in the order
 * they are evaluated (GET /v1/connect/intentions/match).
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { CliError } from '../errors.js'
import { flagBoolean, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { describeIntention, parseIntentionList, type Intention } from '../intention.js'
import type { Refusal } from './intention-create.js'

export interface IntentionMatchRequest {
  readonly name: string
  readonly by: 'source' | 'destination'
  readonly stale: boolean
}

const flags: readonly FlagSpec[] = [
  { name: 'source', kind: 'boolean', description: 'Match intentions with the given source.' },
  { name: 'destination', kind: 'boolean', description: 'Match intentions with the given destination (the default).' },
  ...httpClientFlags,
  ...httpServerFlags
]

export function parseIntentionMatch (input: CommandInput): IntentionMatchRequest | Refusal {
  if (input.args.length !== 1) return { kind: 'refuse', message: 'Error: command requires exactly one argument: src or dst', status: exitFailure }
  const source = flagBoolean(input.flags, 'source')
  if (source && flagBoolean(input.flags, 'destination')) {
    return { kind: 'refuse', message: 'Error: only one of -source or -destination may be specified', status: exitFailure }
  }
  return { name: input.args[0] as string, by: source ? 'source' : 'destination', stale: flagBoolean(input.flags, 'stale') }
}

async function runIntentionMatch (request: IntentionMatchRequest | Refusal, context: RunContext): Promise<number> {
  const { io } = context
  if ('kind' in request) {
    writeErrorLine(io, request.message)
    return request.status
  }
  let matches: Intention[]
  try {
    const client = await context.agent()
    const answer = await client.requestJson({
      method: 'GET',
      path: '/v1/connect/intentions/match',
      query: { by: request.by, name: request.name, stale: request.stale ? true : undefined }
    })
    const body = answer.json
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new CliError('ERR_INVALID_RESPONSE', 'unexpected answer from the agent: the match result should be an object')
    }
    matches = parseIntentionList((body as Record<string, unknown>)[request.name] ?? [], `match[${JSON.stringify(request.name)}]`)
  } catch (err) {
    return reportRequestFailure(io, 'Error matching the connection', err)
  }
  for (const intention of matches) writeLine(io, describeIntention(intention))
  return exitSuccess
}

export const intentionMatchCommand = defineCommand<IntentionMatchRequest | Refusal>({
  path: ['intention', 'match'],
  summary: 'Show intentions that match a source or destination',
  usage: '[options] SRC|DST',
  help: [
    'Shows the intentions that would be enforced for a destination (or, with',
    '-source, a source), in the order they are evaluated.',
    '',
    '    $ weft intention match db',
    '    $ weft intention match -source web'
  ].join('\n'),
  flags,
  parse: parseIntentionMatch,
  run: runIntentionMatch
})
