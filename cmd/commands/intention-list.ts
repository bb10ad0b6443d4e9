/**
 * `weft intention list` (spec §8.4): every intention in evaluation order, as Consul's columns
 * `ID  Source  Action  Destination  Precedence`; with none, `There are no intentions.` on
 * stderr and exit 2.
 */
import { defineCommand, exitSuccess, exitUsage, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagBoolean, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import { columnize } from '../format.js'
import { parseIntentionList, type Intention } from '../intention.js'

export interface IntentionListRequest {
  readonly stale: boolean
}

const flags: readonly FlagSpec[] = [...httpClientFlags, ...httpServerFlags]

export function parseIntentionListCommand (input: CommandInput): IntentionListRequest {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  return { stale: flagBoolean(input.flags, 'stale') }
}

export function formatIntentionTable (intentions: readonly Intention[]): string {
  return columnize([
    ['ID', 'Source', 'Action', 'Destination', 'Precedence'],
    ...intentions.map(intention => [intention.id, intention.sourceName, intention.action, intention.destinationName, String(intention.precedence)])
  ])
}

async function runIntentionList (request: IntentionListRequest, context: RunContext): Promise<number> {
  const { io } = context
  let intentions: Intention[]
  try {
    const client = await context.agent()
    const answer = await client.requestJson({ method: 'GET', path: '/v1/connect/intentions', query: { stale: request.stale ? true : undefined } })
    intentions = parseIntentionList(answer.json, 'GET /v1/connect/intentions')
  } catch (err) {
    return reportRequestFailure(io, 'Failed to retrieve the intentions list', err)
  }
  if (intentions.length === 0) {
    writeErrorLine(io, 'There are no intentions.')
    return exitUsage
  }
  writeLine(io, formatIntentionTable(intentions))
  return exitSuccess
}

export const intentionListCommand = defineCommand<IntentionListRequest>({
  path: ['intention', 'list'],
  summary: 'List intentions',
  usage: '[options]',
  help: 'Lists every intention, in the order they are evaluated.',
  flags,
  parse: parseIntentionListCommand,
  run: runIntentionList
})
