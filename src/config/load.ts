/**
 * The agent configuration's public entry point: `weft agent` arguments in, one validated,
 * deep-frozen Config (or every problem) out.
 *
 *   parseAgentArgs(argv)         flags as typed (syntax errors only)        src/config/flags.ts
 *   loadConfigFiles(paths, opts) the JSON files they name, in order         src/config/files.ts
 *   buildConfig({ flags, files, host, env })  merge, validate, freeze       src/config/build.ts
 *   formatProblems(errors)       the text printed before exit code 2        src/config/problems.ts
 *
 * loadAgentConfig runs the three steps. It stops after the file step when a file cannot be
 * read or parsed, because building without that file would report misleading follow-on
 * problems (e.g. "data_dir is required" when the file that sets it has a syntax error).
 *
 * Who calls it: `weft agent` (cmd/ or src/agent/run.ts), once at start-up. Nothing reads
 * process.env or the host after this point.
 */
import { hostname, networkInterfaces } from 'node:os'
import { buildConfig, type HostFacts } from './build.js'
import { loadConfigFiles } from './files.js'
import { agentUsage, parseAgentArgs } from './flags.js'
import type { ConfigProblem } from './problems.js'
import type { Config } from './schema.js'

export { buildConfig, deepFreeze, type BuildInput, type BuildResult, type HostFacts } from './build.js'
export { loadConfigFiles, type ConfigFile, type LoadFilesResult } from './files.js'
export { agentUsage, parseAgentArgs, type ConfigPathArg, type FlagError, type HelpRequest, type RawFlag, type RawFlags } from './flags.js'
export { formatProblems, type ConfigProblem } from './problems.js'
export type { Config } from './schema.js'

export type AgentConfigOutcome =
  | { readonly kind: 'config', readonly config: Config, readonly warnings: readonly ConfigProblem[] }
  | { readonly kind: 'help', readonly usage: string }
  | { readonly kind: 'invalid', readonly errors: readonly ConfigProblem[], readonly warnings: readonly ConfigProblem[], readonly exitCode: 2 }

/**
 * Parses, loads and builds. On 'invalid' the caller prints formatProblems(errors) to stderr
 * and exits with exitCode; on 'help' it prints usage and exits 0; on 'config' it logs each
 * warning (`log.warn({ key, source }, message)`) and starts the agent.
 */
export function loadAgentConfig (argv: readonly string[], options: { env: Readonly<Record<string, string | undefined>>, host: HostFacts }): AgentConfigOutcome {
  const flags = parseAgentArgs(argv)
  if (flags.kind === 'help') return { kind: 'help', usage: agentUsage() }
  if (flags.kind === 'error') {
    const error: ConfigProblem = { key: flags.flag ?? '', source: 'command line', message: flags.message }
    return { kind: 'invalid', errors: [error], warnings: [], exitCode: 2 }
  }
  const loaded = loadConfigFiles(flags.configPaths, { format: flags.configFormat })
  if (loaded.errors.length > 0) return { kind: 'invalid', errors: loaded.errors, warnings: loaded.warnings, exitCode: 2 }
  const built = buildConfig({ flags, files: loaded.files, host: options.host, env: options.env })
  const warnings = [...loaded.warnings, ...built.warnings]
  if (!built.ok) return { kind: 'invalid', errors: built.errors, warnings, exitCode: 2 }
  return { kind: 'config', config: built.config, warnings }
}

/** The host facts buildConfig needs, read from the OS (call once, in the CLI). */
export function readHostFacts (): HostFacts {
  const addresses: string[] = []
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family === 'IPv4' && !info.internal && isPrivateIpv4(info.address)) addresses.push(info.address)
    }
  }
  return { hostname: hostname(), privateIpv4Addresses: [...new Set(addresses)] }
}

/** RFC 1918 and RFC 6598 (shared address space) ranges, as go-sockaddr's private IPs. */
export function isPrivateIpv4 (address: string): boolean {
  const octets = address.split('.').map(Number)
  const [a = -1, b = -1] = octets
  if (octets.length !== 4) return false
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)
}
