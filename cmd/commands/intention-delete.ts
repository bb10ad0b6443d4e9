/**
 * `weft intention delete SRC DST` / `weft intention delete ID` (spec §8.4): DELETE
 * /v1/connect/intentions/exact?source=&destination= or /v1/connect/intentions/<id>; prints
 * `Intention deleted.`. Deleting a pair that has no intention succeeds (as in Consul); an
 * unknown ID fails with the server's `Cannot delete non-existent intention: '<id>'`.
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { httpClientFlags, httpServerFlags, type FlagSpec } from '../flags.js'
import type { Refusal } from './intention-create.js'

export type IntentionSelector =
  | { readonly kind: 'id', readonly id: string }
  | { readonly kind: 'pair', readonly source: string, readonly destination: string }

const flags: readonly FlagSpec[] = [...httpClientFlags, ...httpServerFlags]

/** One argument is an ID, two are a source and a destination (shared with `get`). */
export function parseSelector (args: readonly string[]): IntentionSelector | Refusal {
  if (args.length === 1) return { kind: 'id', id: args[0] as string }
  if (args.length === 2) return { kind: 'pair', source: args[0] as string, destination: args[1] as string }
  return { kind: 'refuse', message: 'command requires exactly 1 or 2 arguments', status: exitFailure }
}

export function parseIntentionDelete (input: CommandInput): IntentionSelector | Refusal {
  return parseSelector(input.args)
}

async function runIntentionDelete (request: IntentionSelector | Refusal, context: RunContext): Promise<number> {
  const { io } = context
  if (request.kind === 'refuse') {
    writeErrorLine(io, request.message)
    return request.status
  }
  try {
    const client = await context.agent()
    if (request.kind === 'id') await client.request({ method: 'DELETE', path: `/v1/connect/intentions/${encodeURIComponent(request.id)}` })
    else await client.request({ method: 'DELETE', path: '/v1/connect/intentions/exact', query: { source: request.source, destination: request.destination } })
  } catch (err) {
    return reportRequestFailure(io, 'Error deleting the intention', err)
  }
  writeLine(io, 'Intention deleted.')
  return exitSuccess
}

export const intentionDeleteCommand = defineCommand<IntentionSelector | Refusal>({
  path: ['intention', 'delete'],
  summary: 'Delete an intention',
  usage: '[options] (SRC DST | ID)',
  help: [
    'Deletes an intention, found by its exact source and destination or by its',
    'ID. This cannot be undone.',
    '',
    '    $ weft intention delete web db'
  ].join('\n'),
  flags,
  parse: parseIntentionDelete,
  run: runIntentionDelete
})
