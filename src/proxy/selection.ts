/**
 * Upstream endpoints and the order in which a new connection tries them.
 *
 * Endpoints come from `/v1/health/connect/<destination>?passing` (spec §7.4): for a proxy entry
 * the identity to expect is its Proxy.DestinationServiceName, for a Connect-native entry the
 * service's own name; the address is Service.Address, else Node.Address; the datacenter is the
 * node's.
 *
 * Order: round robin over the current endpoints, starting one further for each new connection
 * (from a random first position, so many proxies do not all start on the first instance); a
 * failed dial moves to the next one, at most `attemptsMax` endpoints per connection.
 *
 * Callers: upstream.ts, tests.
 */

export interface UpstreamEndpoint {
  /** `<node>/<service ID>`: stable across refreshes, for logs and session reuse. */
  readonly id: string
  readonly address: string
  readonly port: number
  /** The service whose SPIFFE ID the endpoint must present. */
  readonly service: string
  readonly datacenter: string
}

type Json = Record<string, unknown>

function record (value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Json : {}
}

function text (value: unknown): string {
  return typeof value === 'string' ? value : ''
}

/** Endpoints of a /v1/health/connect answer; entries without a usable address or port are skipped. */
export function endpointsFromHealth (entries: unknown, destination: string): UpstreamEndpoint[] {
  if (!Array.isArray(entries)) return []
  const endpoints: UpstreamEndpoint[] = []
  for (const entry of entries) {
    const node = record(record(entry).Node)
    const service = record(record(entry).Service)
    const isProxy = service.Kind === 'connect-proxy'
    const identity = isProxy ? text(record(service.Proxy).DestinationServiceName) : text(service.Service)
    const address = text(service.Address) !== '' ? text(service.Address) : text(node.Address)
    const port = typeof service.Port === 'number' ? service.Port : 0
    if (identity === '' || address === '' || !Number.isInteger(port) || port < 1 || port > 65535) continue
    if (identity.toLowerCase() !== destination.toLowerCase()) continue
    endpoints.push({ id: `${text(node.Node)}/${text(service.ID)}`, address, port, service: identity, datacenter: text(node.Datacenter) })
  }
  return endpoints
}

export class RoundRobin {
  private cursor: number

  constructor (random: () => number = Math.random) {
    this.cursor = Math.floor(random() * 1_000_000)
  }

  /** The endpoints to try for one connection, in order: at most `attemptsMax`, each at most once. */
  next<T> (endpoints: readonly T[], attemptsMax: number): T[] {
    if (endpoints.length === 0) return []
    const start = this.cursor % endpoints.length
    this.cursor = (this.cursor + 1) % 1_000_000_007
    const count = Math.min(endpoints.length, Math.max(1, attemptsMax))
    const order: T[] = []
    for (let i = 0; i < count; i += 1) order.push(endpoints[(start + i) % endpoints.length] as T)
    return order
  }
}
