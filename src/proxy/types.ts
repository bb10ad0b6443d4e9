/**
 * The proxy's configuration, whichever way it was given (flags, or the agent's registration of
 * a sidecar; see config.ts). Plain frozen data.
 *
 * Callers: config.ts (builds it), proxy.ts, listener.ts, upstream.ts.
 */

export interface PublicListenerConfig {
  readonly bindAddress: string
  readonly bindPort: number
  /** Where authorized connections go (Consul's local_service_address). */
  readonly localServiceAddress: string
  readonly localServicePort: number
  /** Consul's local_connect_timeout_ms (1000). */
  readonly localConnectTimeoutMs: number
  /** Consul's handshake_timeout_ms (10000). */
  readonly handshakeTimeoutMs: number
}

export interface UpstreamConfig {
  readonly destinationName: string
  /** The destination's datacenter ('' = the proxy's own). */
  readonly datacenter: string
  readonly localBindAddress: string
  readonly localBindPort: number
  /** Consul's per-upstream connect_timeout_ms (10000): TCP connect plus TLS handshake, per endpoint. */
  readonly connectTimeoutMs: number
}

export interface ProxyConfig {
  /** The service this proxy represents: its leaf, and authorize's Target. */
  readonly service: string
  readonly publicListener: PublicListenerConfig | null
  readonly upstreams: readonly UpstreamConfig[]
}

export const localConnectTimeoutMsDefault = 1_000
export const handshakeTimeoutMsDefault = 10_000
export const upstreamConnectTimeoutMsDefault = 10_000
