/**
 * Sidecar mode (`-sidecar-for ID` / `-proxy-id ID`, spec §7.4): the proxy's configuration is
 * the agent's registration of its connect-proxy service, read from GET /v1/agent/service/<id>
 * and watched by content hash (?hash=&wait=), so a changed registration (an upstream added,
 * the local port moved) reaches the running proxy without a restart.
 *
 * `-sidecar-for ID` first finds the proxy's ID the way Consul does: the one local connect-proxy
 * service whose Proxy.DestinationServiceID is ID (GET /v1/agent/services).
 *
 * Callers: cmd/commands/connect-proxy.ts.
 */
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'
import { configFromAgentService, findSidecarProxyId } from './config.js'
import type { ProxyConfig } from './types.js'
import { Watch } from './watch.js'

const requestTimeoutMs = 10_000

export async function resolveSidecarProxyId (agent: AgentPort, targetServiceId: string): Promise<string> {
  const answer = await agent.request<unknown>({ method: 'GET', path: '/v1/agent/services', timeoutMs: requestTimeoutMs })
  return findSidecarProxyId(answer.value, targetServiceId)
}

export async function readSidecarConfig (agent: AgentPort, proxyId: string): Promise<{ config: ProxyConfig, contentHash: string }> {
  const answer = await agent.request<unknown>({ method: 'GET', path: `/v1/agent/service/${encodeURIComponent(proxyId)}`, timeoutMs: requestTimeoutMs })
  return { config: configFromAgentService(answer.value), contentHash: answer.contentHash }
}

/** Watches the registration; `onConfig` gets every valid changed config, invalid ones are logged and skipped. */
export function watchSidecarConfig (o: {
  agent: AgentPort, proxyId: string, logger: Logger, initialHash: string, onConfig: (config: ProxyConfig) => void, waitMs?: number
}): Watch<unknown> {
  const waitMs = o.waitMs ?? 60_000
  let first = true
  const watch = new Watch<unknown>({
    what: `registration ${o.proxyId}`,
    logger: o.logger,
    fetch: async (version, signal) => {
      const hash = first ? o.initialHash : version
      first = false
      const query = hash === '' ? {} : { hash, wait: `${Math.ceil(waitMs / 1000)}s` }
      const answer = await o.agent.request<unknown>({ method: 'GET', path: `/v1/agent/service/${encodeURIComponent(o.proxyId)}`, query, timeoutMs: waitMs + 15_000, signal })
      return { value: answer.value, version: answer.contentHash }
    },
    onValue: value => {
      let config: ProxyConfig
      try {
        config = configFromAgentService(value)
      } catch (err) {
        o.logger.error({ proxyId: o.proxyId, err: (err as Error).message }, 'changed sidecar registration is invalid; keeping the current configuration')
        return
      }
      o.onConfig(config)
    }
  })
  watch.start()
  return watch
}
