/** Shared helpers for the config tests: build from argv plus in-memory files. */
import assert from 'node:assert/strict'
import { buildConfig, parseAgentArgs, type BuildResult, type Config, type HostFacts, type RawFlags } from '../../../src/config/load.js'

export const HOST: HostFacts = { hostname: 'alpha', privateIpv4Addresses: ['10.0.0.5'] }

export type FileSpec = readonly [path: string, data: Record<string, unknown>]

export function build (argv: readonly string[], files: readonly FileSpec[] = [], host: HostFacts = HOST): BuildResult {
  const flags = parseAgentArgs(argv)
  assert.equal(flags.kind, 'flags', JSON.stringify(flags))
  return buildConfig({ flags: flags as RawFlags, files: files.map(([path, data]) => ({ path, data })), host, env: {} })
}

export function configOf (argv: readonly string[], files: readonly FileSpec[] = [], host: HostFacts = HOST): Config {
  const result = build(argv, files, host)
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.errors.map((item) => item.message).join('\n')}`)
  return result.config
}

export function errorsOf (argv: readonly string[], files: readonly FileSpec[] = [], host: HostFacts = HOST): string[] {
  const result = build(argv, files, host)
  assert.equal(result.ok, false, 'expected configuration problems')
  return result.ok ? [] : result.errors.map((item) => item.message)
}

export function warningsOf (argv: readonly string[], files: readonly FileSpec[] = [], host: HostFacts = HOST): string[] {
  return build(argv, files, host).warnings.map((item) => item.message)
}

/** A valid server base: most tests add one setting to it. */
export const SERVER = ['-server', '-data-dir=/var/lib/weft'] as const
export const CLIENT = ['-data-dir=/var/lib/weft'] as const
