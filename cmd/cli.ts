/**
 * The CLI's entry logic, separate from weft.ts so tests can call it in-process:
 *
 *   main(argv) → `agent ...`            → runAgent(raw args)           (src/agent/run.ts)
 *              → `-version` / `-v`      → version
 *              → a known command path   → normalizeArgs (Go-style flags → commander) → commander
 *                                          → command.parse → command.run → exit status
 *              → anything else          → commander (group help, unknown command)
 *
 * Exit statuses: 0 success, 1 failure, 2 usage error. Nothing here reads process.env or
 * writes to process.stdout directly: the environment and the output sinks come in `options`.
 */
import { Command as CommanderCommand, CommanderError, Option } from 'commander'
import { readFile } from 'node:fs/promises'
import { normalizeArgs, matchCommandPath } from './argv.js'
import { exitFailure, exitSuccess, exitUsage, writeErrorLine, type CliIo, type Command, type RunContext } from './command.js'
import { loadRunAgent } from './commands/agent.js'
import { commands, groupSummaries } from './commands/index.js'
import { versionCommand } from './commands/version.js'
import { resolveClientSettings, type CliEnvironment } from './environment.js'
import { CliError, isCliError } from './errors.js'
import { httpClientFlags, httpServerFlags, readFlagValues, type FlagSpec, type FlagValues } from './flags.js'
import { HttpClient } from './http-client.js'

export interface MainOptions {
  readonly env: CliEnvironment
  readonly io: CliIo
  /** weft's version (package.json), printed by `weft version`. */
  readonly version: string
  /** Deadline for one API request, connect to last byte. */
  readonly requestTimeoutMs?: number
}

/** Default deadline for one API request; snapshot transfers set their own. */
export const requestTimeoutMsDefault = 60_000
/** Largest buffered API answer (a whole-store `kv get -recurse` must fit). */
export const responseBytesMax = 256 * 1024 * 1024
/** Largest token file we read. */
const tokenFileBytesMax = 64 * 1024

const versionFlags = new Set(['-v', '-version', '--version'])

export async function main (argv: readonly string[], options: MainOptions): Promise<number> {
  if (argv[0] === 'agent') return await runAgentCommand(argv.slice(1), options)
  if (argv.length === 1 && versionFlags.has(argv[0] as string)) return await runCommand(versionCommand, [], options)

  const match = matchCommandPath(argv, commands)
  if (match === undefined) return await runCommander(argv.map(word => (word === '-help' ? '--help' : word)), options)
  let normalized: string[]
  try {
    normalized = normalizeArgs(match.rest, match.command.flags)
  } catch (err) {
    return reportUsage(err, match.command, options.io)
  }
  return await runCommander([...match.command.path, ...normalized], options)
}

async function runAgentCommand (args: string[], options: MainOptions): Promise<number> {
  let runAgent
  try {
    runAgent = await loadRunAgent()
  } catch (err) {
    writeErrorLine(options.io, (err as Error).message)
    return exitFailure
  }
  return await runAgent(args)
}

async function runCommand (command: Command, args: string[], options: MainOptions): Promise<number> {
  return await runCommander([...command.path, ...args], options)
}

/** Builds the commander tree, parses, and maps commander's own exits to our statuses. */
async function runCommander (argv: string[], options: MainOptions): Promise<number> {
  let status = exitSuccess
  const program = buildProgram(options, result => { status = result })
  try {
    await program.parseAsync(argv, { from: 'user' })
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return exitSuccess
    return exitUsage // commander has printed the help or the error already
  }
  return status
}

function buildProgram (options: MainOptions, setStatus: (status: number) => void): CommanderCommand {
  const { io } = options
  const program = new CommanderCommand('weft')
    .usage('<command> [args]')
    .description('weft: a service-mesh control plane with a Consul-compatible API and CLI.')
    .exitOverride()
    .configureOutput({ writeOut: text => io.stdout(text), writeErr: text => io.stderr(text) })
    .configureHelp({ optionTerm: goOptionTerm, subcommandTerm: command => command.name(), sortSubcommands: true })
    .helpOption('-h, --help', 'Show help.')
    .helpCommand(false)
    .showHelpAfterError("Run 'weft -h' for the list of commands.")
  program.command('agent').summary('Runs a weft agent').description('Runs a weft agent; see weft agent -h.')

  for (const command of commands) {
    const parent = ensureGroup(program, command.path.slice(0, -1))
    const leaf = parent.command(command.path[command.path.length - 1] as string)
      .summary(command.summary)
      .description(command.help)
      .usage(command.usage)
      .argument('[args...]')
      .allowExcessArguments(true)
      .showHelpAfterError(`Run 'weft ${command.path.join(' ')} -h' for usage.`)
    const attributeNames = addFlags(leaf, command.flags)
    leaf.action(async (args: string[]) => {
      const flags = () => readFlagValues(command.flags, name => leaf.getOptionValue(attributeNames.get(name) as string))
      setStatus(await executeCommand(command, args, flags, options))
    })
  }
  return program
}

/** Finds or creates the group commands (`kv`, `operator`, `operator raft`) above a leaf. */
function ensureGroup (program: CommanderCommand, groupPath: readonly string[]): CommanderCommand {
  let parent = program
  groupPath.forEach((word, depth) => {
    const existing = parent.commands.find(child => child.name() === word)
    if (existing !== undefined) {
      parent = existing
      return
    }
    const name = groupPath.slice(0, depth + 1).join(' ')
    const summary = groupSummaries[name] ?? ''
    parent = parent.command(word).summary(summary).description(summary).usage('<subcommand> [options] [args]').helpCommand(false)
      .showHelpAfterError(`Run 'weft ${name} -h' for the list of subcommands.`)
  })
  return parent
}

function addFlags (leaf: CommanderCommand, specs: readonly FlagSpec[]): Map<string, string> {
  const attributeNames = new Map<string, string>()
  for (const spec of specs) {
    const flags = spec.kind === 'boolean' ? `--${spec.name}` : `--${spec.name} <${spec.valueName ?? 'value'}>`
    const isHttp = httpClientFlags.includes(spec) || httpServerFlags.includes(spec)
    const option = new Option(flags, spec.description).helpGroup(isHttp ? 'HTTP API Options:' : 'Command Options:')
    // A repeatable flag collects every value (Go's flag.Value with Set appending).
    if (spec.kind === 'stringList') option.argParser((value: string, previous: unknown) => [...(Array.isArray(previous) ? previous : []), value])
    leaf.addOption(option)
    attributeNames.set(spec.name, option.attributeName())
  }
  return attributeNames
}

/** Help shows flags the way users type them: `-modify-index=<uint>`, `-recurse`. */
function goOptionTerm (option: Option): string {
  if (option.long === '--help') return '-h, -help'
  const name = (option.long ?? option.flags).replace(/^--/, '')
  const valueName = /<([^>]+)>/.exec(option.flags)?.[1]
  return valueName === undefined ? `-${name}` : `-${name}=<${valueName}>`
}

async function executeCommand (command: Command, args: string[], readFlags: () => FlagValues, options: MainOptions): Promise<number> {
  const { io } = options
  try {
    const flags = readFlags()
    const context = createRunContext(flags, options)
    return await command.execute({ flags, args }, context)
  } catch (err) {
    if (isCliError(err, 'ERR_USAGE')) return reportUsage(err, command, io)
    if (isCliError(err)) {
      writeErrorLine(io, `Error: ${err.message}`)
      return exitFailure
    }
    throw err
  }
}

function createRunContext (flags: FlagValues, options: MainOptions): RunContext {
  let client: Promise<HttpClient> | undefined
  return {
    io: options.io,
    version: options.version,
    agent: async () => {
      client ??= createClient(flags, options)
      return await client
    }
  }
}

async function createClient (flags: FlagValues, options: MainOptions): Promise<HttpClient> {
  const settings = resolveClientSettings(flags, options.env)
  let token: string | undefined
  if (settings.token.kind === 'value') token = settings.token.token
  if (settings.token.kind === 'file') token = await readTokenFile(settings.token.path)
  return new HttpClient({
    baseUrl: settings.baseUrl,
    token,
    basicAuth: settings.basicAuth,
    datacenter: settings.datacenter,
    requestTimeoutMs: options.requestTimeoutMs ?? requestTimeoutMsDefault,
    responseBytesMax
  })
}

async function readTokenFile (path: string): Promise<string | undefined> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.byteLength > tokenFileBytesMax) throw new Error(`larger than ${tokenFileBytesMax} bytes`)
    text = bytes.toString('utf8').trim()
  } catch (err) {
    throw new CliError('ERR_USAGE', `Error reading token file ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err })
  }
  return text === '' ? undefined : text
}

function reportUsage (err: unknown, command: Command, io: CliIo): number {
  if (!isCliError(err, 'ERR_USAGE')) throw err
  writeErrorLine(io, err.message)
  writeErrorLine(io, `Run 'weft ${command.path.join(' ')} -h' for usage.`)
  return exitUsage
}
