/**
 * `-register` (spec §7.4): registers the proxy with the local agent as a connect-proxy service
 * `<service>-proxy[-<register-id>]` for its public listener, with a TTL check (`<id>-ttl`,
 * "proxy heartbeat", TTL 30s, initially passing) that it passes every 10 s, and deregisters it
 * on exit. A failed heartbeat is logged and retried at the next tick (the TTL gives three).
 *
 * Callers: proxy.ts via cmd/commands/connect-proxy.ts.
 */
import type { Logger } from 'pino'
import type { AgentPort } from './agent-client.js'

export interface RegistrationOptions {
  readonly agent: AgentPort
  readonly logger: Logger
  /** The service the proxy represents. */
  readonly service: string
  readonly registerId: string
  readonly address: string
  readonly port: number
  readonly heartbeatMs?: number
}

const heartbeatMsDefault = 10_000
const requestTimeoutMs = 10_000

export class ProxyRegistration {
  readonly serviceId: string
  readonly checkId: string
  private timer: NodeJS.Timeout | null = null

  constructor (private readonly options: RegistrationOptions) {
    this.serviceId = `${options.service}-proxy${options.registerId !== '' ? `-${options.registerId}` : ''}`
    this.checkId = `${this.serviceId}-ttl`
  }

  async register (): Promise<void> {
    const { agent, service, address, port } = this.options
    await agent.request({
      method: 'PUT',
      path: '/v1/agent/service/register',
      body: {
        Kind: 'connect-proxy',
        ID: this.serviceId,
        Name: `${service}-proxy`,
        Address: address === '0.0.0.0' || address === '::' ? '' : address,
        Port: port,
        Proxy: { DestinationServiceName: service },
        Check: { CheckID: this.checkId, Name: 'proxy heartbeat', TTL: '30s', Notes: 'Built-in proxy will heartbeat this check.', Status: 'passing' }
      },
      timeoutMs: requestTimeoutMs
    })
    this.options.logger.info({ serviceId: this.serviceId, checkId: this.checkId }, 'proxy registered with the agent')
    this.timer = setInterval(() => { void this.heartbeat() }, this.options.heartbeatMs ?? heartbeatMsDefault)
  }

  private async heartbeat (): Promise<void> {
    try {
      await this.options.agent.request({ method: 'PUT', path: `/v1/agent/check/pass/${encodeURIComponent(this.checkId)}`, timeoutMs: requestTimeoutMs })
    } catch (err) {
      this.options.logger.warn({ checkId: this.checkId, err: (err as Error).message }, 'proxy heartbeat failed')
    }
  }

  async deregister (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    try {
      await this.options.agent.request({ method: 'PUT', path: `/v1/agent/service/deregister/${encodeURIComponent(this.serviceId)}`, timeoutMs: requestTimeoutMs })
      this.options.logger.info({ serviceId: this.serviceId }, 'proxy deregistered')
    } catch (err) {
      this.options.logger.warn({ serviceId: this.serviceId, err: (err as Error).message }, 'proxy deregistration failed')
    }
  }
}
