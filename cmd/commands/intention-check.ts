/**
 * `weft intention check SRC DST` (spec §8.4): asks the servers whether SRC may connect to DST
 * (GET /v1/connect/intentions/check) and prints `Allowed` (exit 0) or `Denied` (exit 1). Every
 * error, including a wrong number of arguments, exits 2, so scripts can tell "denied" from
 * "could not tell", as with Consul.
 */
import { defineCommand, exitSuccess, exitFailure, exitUsage, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { CliError } from '../errors.js'
import { flagBoolean, httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import type { Refusal } from './intention-create.js'

export interface IntentionCheckRequest {
  readonly source: string
  readonly destination: string
  readonly stale: boolean
}

const flags: readonly FlagSpec[] = [...httpClientFlags, ...httpServerFlags]

export function parseIntentionCheck (input: CommandInput): IntentionCheckRequest | Refusal {
  if (input.args.length !== 2) return { kind: 'refuse', message: 'Error: command requires exactly two arguments: src and dst', status: exitUsage }
  return { source: input.args[0] as string, destination: input.args[1] as string, stale: flagBoolean(input.flags, 'stale') }
}

async function runIntentionCheck (request: IntentionCheckRequest | Refusal, context: RunContext): Promise<number> {
  const { io } = context
  if ('kind' in request) {
    writeErrorLine(io, request.message)
    return request.status
  }
  let allowed: boolean
  try {
    const client = await context.agent()
    const answer = await client.requestJson({
      method: 'GET',
      path: '/v1/connect/intentions/check',
      query: { source: request.source, destination: request.destination, stale: request.stale ? true : undefined }
    })
    const value = (answer.json as { Allowed?: unknown } | null)?.Allowed
    if (typeof value !== 'boolean') {
      throw new CliError('ERR_INVALID_RESPONSE', `unexpected answer from the agent: Allowed should be a boolean, got ${JSON.stringify(answer.json)?.slice(0, 80) ?? 'nothing'}`)
    }
    allowed = value
  } catch (err) {
    reportRequestFailure(io, 'Error checking the connection', err)
    return exitUsage
  }
  writeLine(io, allowed ? 'Allowed' : 'Denied')
  return allowed ? exitSuccess : exitFailure
}

export const intentionCheckCommand = defineCommand<IntentionCheckRequest | Refusal>({
  path: ['intention', 'check'],
  summary: 'Check whether a connection between two services is allowed',
  usage: '[options] SRC DST',
  help: [
    'Checks whether a connection from SRC to DST would be allowed by the',
    'intentions (and, when none matches, the ACL default policy). Prints',
    'Allowed (exit 0) or Denied (exit 1); errors exit 2.',
    '',
    '    $ weft intention check web db'
  ].join('\n'),
  flags,
  parse: parseIntentionCheck,
  run: runIntentionCheck
})
