/**
 * The shape every CLI command follows: a pure `parse` from typed flags and positional
 * arguments to a request object (throwing ERR_USAGE on bad input), then `run`, which does the
 * I/O and returns the exit status. cli.ts wires the list of commands into commander; each
 * command lives in commands/<name>.ts and exports its formatters for unit tests.
 *
 * Exit statuses: 0 success, 1 failure, 2 usage error (and Consul's "nothing matched" cases,
 * e.g. `members -status=` that matches no member).
 */
import { agentUnreachableHint, isCliError } from './errors.js'
import type { FlagSpec, FlagValues } from './flags.js'
import type { HttpClient } from './http-client.js'

export const exitSuccess = 0
export const exitFailure = 1
export const exitUsage = 2

export interface CliIo {
  stdout (data: string | Uint8Array): void
  stderr (text: string): void
  /** Reads standard input to its end (`kv put KEY -`); rejects past bytesMax. */
  readStdin (bytesMax: number): Promise<Uint8Array>
}

export interface CommandInput {
  readonly flags: FlagValues
  readonly args: readonly string[]
}

export interface RunContext {
  readonly io: CliIo
  /** The version from package.json, e.g. `0.1.0`. */
  readonly version: string
  /** A client for the agent named by -http-addr / the environment; reads -token-file on first use. */
  agent (): Promise<HttpClient>
}

export interface CommandDefinition<Request> {
  /** Words after `weft`: ['kv', 'get']. */
  readonly path: readonly string[]
  /** One line, shown in the parent's command list. */
  readonly summary: string
  /** What follows the command name in the usage line: `[options] KEY`. */
  readonly usage: string
  /** Shown by -h under the usage line. */
  readonly help: string
  readonly flags: readonly FlagSpec[]
  parse (input: CommandInput): Request
  run (request: Request, context: RunContext): Promise<number>
}

/** A command with its request type hidden, so commands of different types share one list. */
export interface Command {
  readonly path: readonly string[]
  readonly summary: string
  readonly usage: string
  readonly help: string
  readonly flags: readonly FlagSpec[]
  execute (input: CommandInput, context: RunContext): Promise<number>
}

export function defineCommand<Request> (definition: CommandDefinition<Request>): Command {
  return {
    path: definition.path,
    summary: definition.summary,
    usage: definition.usage,
    help: definition.help,
    flags: definition.flags,
    execute: async (input, context) => await definition.run(definition.parse(input), context)
  }
}

export function writeLine (io: CliIo, text: string): void {
  io.stdout(`${text}\n`)
}

export function writeErrorLine (io: CliIo, text: string): void {
  io.stderr(`${text}\n`)
}

/**
 * Reports a failed agent request the way Consul's commands do (`<prefix>: <error>`) and returns
 * exit status 1. A transport failure or timeout is worded the same for every command, with a
 * hint when nothing answered at the address. Usage errors and programming errors are rethrown.
 */
export function reportRequestFailure (io: CliIo, prefix: string, err: unknown): number {
  if (!isCliError(err) || err.code === 'ERR_USAGE') throw err
  if (err.code === 'ERR_AGENT_UNREACHABLE' || err.code === 'ERR_TIMEOUT') {
    writeErrorLine(io, `Error querying agent: ${err.message}`)
    if (err.details.isConnectFailure === true) writeErrorLine(io, agentUnreachableHint)
    return exitFailure
  }
  writeErrorLine(io, `${prefix}: ${err.message}`)
  return exitFailure
}
