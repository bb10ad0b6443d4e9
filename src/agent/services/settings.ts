/**
 * The local services' slice of the agent configuration, and how `weft reload` re-reads it: the
 * config files are loaded again with the arguments the agent started with, through the same
 * loader (src/config/load.ts), and only their service and check definitions are taken. A reload
 * whose files no longer load (a syntax error, an unknown key) changes nothing and reports every
 * problem, as the start-up would.
 *
 * Callers: run.ts (start-up), local-services.ts (reload through `loadDefinitions`).
 */
import { loadAgentConfig, readHostFacts } from '../../config/load.js'
import { formatProblems } from '../../config/problems.js'
import type { Config } from '../../config/schema.js'
import { ControlPlaneError } from '../../util/errors.js'
import type { ConfigDefinitions, LocalServicesSettings } from './local-services.js'

export function localServicesSettings (config: Config, startup: { readonly argv: readonly string[], readonly env: Readonly<Record<string, string | undefined>> }): LocalServicesSettings {
  return {
    definitions: { services: config.services, checks: config.checks },
    sidecarPorts: { min: config.ports.sidecarMinPort, max: config.ports.sidecarMaxPort },
    proxyPorts: { min: config.ports.proxyMinPort, max: config.ports.proxyMaxPort },
    antiEntropyIntervalMs: config.antiEntropyIntervalMs,
    checkUpdateIntervalMs: config.checkUpdateIntervalMs,
    nodeMeta: config.nodeMeta,
    ...(config.acl.tokens.agent !== undefined ? { agentToken: config.acl.tokens.agent } : {}),
    loadDefinitions: async () => reloadDefinitions(startup),
    environment: startup.env
  }
}

export function reloadDefinitions (startup: { readonly argv: readonly string[], readonly env: Readonly<Record<string, string | undefined>> }): ConfigDefinitions {
  const outcome = loadAgentConfig(startup.argv, { env: startup.env, host: readHostFacts() })
  if (outcome.kind === 'config') return { services: outcome.config.services, checks: outcome.config.checks }
  if (outcome.kind === 'help') throw new ControlPlaneError('ERR_REJECTED', 'Failed to reload configs: the agent\'s arguments ask for help')
  throw new ControlPlaneError('ERR_REJECTED', `Failed to reload configs: ${formatProblems(outcome.errors)}`)
}
