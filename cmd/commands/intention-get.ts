/**
 * `weft intention get SRC DST` / `weft intention get ID` (spec §8.4): reads one intention and
 * prints Consul's layout (`Source:`, `Destination:`, `Action:`, `ID:`, `Description:`,
 * `Meta[k]:`, `Created At:` in RFC 850 local time, then `Permissions:` for L7 ones). A missing
 * intention prints `Intention not found with ID "<id>"` or
 * `Intention not found with source "web" and destination "db"` and exits 1.
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { flagBoolean, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { formatIntentionDetails, parseIntention, parseJsonBody, type Intention } from '../intention.js'
import type { Refusal } from './intention-create.js'
import { parseSelector, type IntentionSelector } from './intention-delete.js'

export interface IntentionGetRequest {
  readonly selector: IntentionSelector
  readonly stale: boolean
}

const flags: readonly FlagSpec[] = [...httpClientFlags, ...httpServerFlags]

export function parseIntentionGet (input: CommandInput): IntentionGetRequest | Refusal {
  const selector = parseSelector(input.args)
  if (selector.kind === 'refuse') return selector
  return { selector, stale: flagBoolean(input.flags, 'stale') }
}

async function runIntentionGet (request: IntentionGetRequest | Refusal, context: RunContext): Promise<number> {
  const { io } = context
  if ('kind' in request) {
    writeErrorLine(io, request.message)
    return request.status
  }
  const { selector } = request
  const stale = request.stale ? true as const : undefined
  let intention: Intention | null
  try {
    const client = await context.agent()
    // A 404's body is text ("Intention not found"), so JSON is read only from a 200.
    const answer = selector.kind === 'id'
      ? await client.request({ method: 'GET', path: `/v1/connect/intentions/${encodeURIComponent(selector.id)}`, query: { stale }, answerStatuses: [404] })
      : await client.request({ method: 'GET', path: '/v1/connect/intentions/exact', query: { source: selector.source, destination: selector.destination, stale }, answerStatuses: [404] })
    intention = answer.status === 404 ? null : parseIntention(parseJsonBody(answer.body, 'the intention'), 'the intention')
  } catch (err) {
    return reportRequestFailure(io, 'Error reading the intention', err)
  }
  if (intention === null) {
    writeErrorLine(io, selector.kind === 'id'
      ? `Intention not found with ID ${JSON.stringify(selector.id)}`
      : `Intention not found with source ${JSON.stringify(selector.source)} and destination ${JSON.stringify(selector.destination)}`)
    return exitFailure
  }
  writeLine(io, formatIntentionDetails(intention))
  return exitSuccess
}

export const intentionGetCommand = defineCommand<IntentionGetRequest | Refusal>({
  path: ['intention', 'get'],
  summary: 'Show information about an intention',
  usage: '[options] (SRC DST | ID)',
  help: [
    'Shows an intention, found by its exact source and destination or by its ID.',
    '',
    '    $ weft intention get web db'
  ].join('\n'),
  flags,
  parse: parseIntentionGet,
  run: runIntentionGet
})
