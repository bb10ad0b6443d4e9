/**
 * `weft agent ...`: hands the raw arguments after `agent`, untouched, to `runAgent` in
 * src/agent/run.ts, which has its own Consul-style flag parser and configuration loading, and
 * returns its exit status. commander and the argv normalizer never see these arguments.
 *
 * The module is loaded on demand so that the other commands start fast and do not load the
 * server's dependencies (LevelDB, ZeroMQ). Failing to load is reported in one line (missing
 * module, or a module it imports failing); an error thrown by runAgent itself propagates.
 */
import { fileURLToPath } from 'node:url'

export type RunAgent = (argv: string[]) => Promise<number>

/** Relative to the compiled dist/cmd/commands/agent.js. */
const agentModuleSpecifier = '../../src/agent/run.js'

export async function loadRunAgent (): Promise<RunAgent> {
  let loaded: unknown
  try {
    // A computed specifier keeps tsc from resolving a module that may not exist yet.
    loaded = await import(agentModuleSpecifier)
  } catch (err) {
    // Only the agent module itself being absent is "not available"; a module it fails to
    // import is a real error inside the agent and propagates as is.
    const code = (err as { code?: unknown }).code
    const modulePath = fileURLToPath(new URL(agentModuleSpecifier, import.meta.url))
    const isMissing = code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(`'${modulePath}'`)
    if (!isMissing) throw new Error(`weft agent failed to load: ${(err as Error).message}`, { cause: err })
    throw new Error(`weft agent is not available in this build: cannot load src/agent/run.js (${(err as Error).message})`, { cause: err })
  }
  const runAgent = (loaded as { runAgent?: unknown }).runAgent
  if (typeof runAgent !== 'function') {
    throw new Error('weft agent is not available in this build: src/agent/run.js does not export a runAgent function')
  }
  return runAgent as RunAgent
}
