/**
 * SPIFFE identities of the Connect CA (spec §6.3) and Consul's display formats for key ids and
 * serial numbers (colon-separated lowercase hex).
 *
 * Forms, with an optional `/ap/<partition>` prefix on the first three:
 *   service       spiffe://<trust-domain>/ns/<namespace>/dc/<dc>/svc/<service>
 *   agent         spiffe://<trust-domain>/agent/client/dc/<dc>/id/<node-id>
 *   mesh-gateway  spiffe://<trust-domain>/gateway/mesh/dc/<dc>
 *   server        spiffe://<trust-domain>/agent/server/dc/<dc>
 *   signing       spiffe://<trust-domain>             (the CA itself; no path)
 * Parsing compares the host case-insensitively (it is returned lowercased) and URL-unescapes each
 * path segment after splitting on "/", so an escaped "%2F" stays inside its segment.
 *
 * Called by: certs.ts (root SAN, external CA checks), the CA provider and sign endpoint
 * (CSR identity checks), the agent (leaf requests) and the proxy (peer authorization).
 */
import { ControlPlaneError } from '../util/errors.js'

export type SpiffeId =
  | { readonly kind: 'service', readonly trustDomain: string, readonly partition: string, readonly namespace: string, readonly datacenter: string, readonly service: string }
  | { readonly kind: 'agent', readonly trustDomain: string, readonly partition: string, readonly datacenter: string, readonly nodeId: string }
  | { readonly kind: 'mesh-gateway', readonly trustDomain: string, readonly partition: string, readonly datacenter: string }
  | { readonly kind: 'server', readonly trustDomain: string, readonly datacenter: string }
  | { readonly kind: 'signing', readonly trustDomain: string }

/** SPIFFE IDs longer than this are refused (the SPIFFE spec caps URIs at 2048 bytes). */
export const spiffeIdCharsMax = 2048

const trustDomainPattern = /^[a-z0-9._-]+$/

function invalidInput (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message)
}

/** The trust domain of a cluster: `<cluster-id>.consul`, lowercase, independent of the DNS domain. */
export function trustDomainFor (clusterId: string): string {
  const lower = clusterId.toLowerCase()
  if (lower === '' || !trustDomainPattern.test(lower)) {
    throw invalidInput(`cluster ID must be non-empty and contain only letters, digits, ".", "-" or "_", got ${JSON.stringify(clusterId)}`)
  }
  return `${lower}.consul`
}

/** The CA's own identity (root certificate URI SAN): `spiffe://<trust-domain>`. */
export function signingUri (trustDomain: string): string {
  return `spiffe://${checkedTrustDomain(trustDomain)}`
}

export function serviceUri (trustDomain: string, dc: string, service: string, ns = 'default'): string {
  return `spiffe://${checkedTrustDomain(trustDomain)}/ns/${segment(ns, 'namespace')}/dc/${segment(dc, 'datacenter')}/svc/${segment(service, 'service')}`
}

export function agentUri (o: { trustDomain: string, datacenter: string, nodeId: string }): string {
  return `spiffe://${checkedTrustDomain(o.trustDomain)}/agent/client/dc/${segment(o.datacenter, 'datacenter')}/id/${segment(o.nodeId, 'nodeId')}`
}

export function meshGatewayUri (o: { trustDomain: string, datacenter: string }): string {
  return `spiffe://${checkedTrustDomain(o.trustDomain)}/gateway/mesh/dc/${segment(o.datacenter, 'datacenter')}`
}

function checkedTrustDomain (trustDomain: string): string {
  const lower = trustDomain.toLowerCase()
  if (lower === '' || !trustDomainPattern.test(lower)) {
    throw invalidInput(`trust domain must be non-empty and contain only letters, digits, ".", "-" or "_", got ${JSON.stringify(trustDomain)}`)
  }
  return lower
}

function segment (value: string, what: string): string {
  if (value === '') throw invalidInput(`SPIFFE ID ${what} must not be empty`)
  return encodeURIComponent(value)
}

/** Parses any Connect SPIFFE ID; throws ERR_INVALID_INPUT naming the URI and what is wrong. */
export function parseSpiffeId (uri: string): SpiffeId {
  if (typeof uri !== 'string') throw invalidInput(`SPIFFE ID must be a string, got ${typeof uri}`)
  if (uri.length > spiffeIdCharsMax) throw invalidInput(`SPIFFE ID is ${uri.length} characters, more than the ${spiffeIdCharsMax} allowed`)
  if (uri.slice(0, 9).toLowerCase() !== 'spiffe://') throw invalidInput(`SPIFFE ID must start with "spiffe://", got ${JSON.stringify(uri)}`)
  if (/[?#]/.test(uri)) throw invalidInput(`SPIFFE ID must not have a query or fragment, got ${JSON.stringify(uri)}`)
  const rest = uri.slice(9)
  const slash = rest.indexOf('/')
  const host = (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase()
  const path = slash < 0 ? '' : rest.slice(slash)
  if (host === '') throw invalidInput(`SPIFFE ID ${JSON.stringify(uri)} has an empty trust domain`)
  if (!trustDomainPattern.test(host)) throw invalidInput(`SPIFFE ID ${JSON.stringify(uri)} has an invalid trust domain ${JSON.stringify(host)}`)
  if (path === '' || path === '/') return { kind: 'signing', trustDomain: host }
  const segments = path.slice(1).split('/').map(raw => unescapeSegment(raw, uri))
  const parsed = matchPath(host, segments)
  if (parsed === null) {
    throw invalidInput(`SPIFFE ID ${JSON.stringify(uri)} is not a service, agent, server, mesh-gateway or signing ID`)
  }
  return parsed
}

function unescapeSegment (raw: string, uri: string): string {
  if (raw === '') throw invalidInput(`SPIFFE ID ${JSON.stringify(uri)} has an empty path segment`)
  try {
    return decodeURIComponent(raw)
  } catch {
    throw invalidInput(`SPIFFE ID ${JSON.stringify(uri)} has an invalid percent-escape in path segment ${JSON.stringify(raw)}`)
  }
}

function matchPath (trustDomain: string, all: readonly string[]): SpiffeId | null {
  if (all.length === 4 && all[0] === 'agent' && all[1] === 'server' && all[2] === 'dc') {
    return { kind: 'server', trustDomain, datacenter: all[3]! }
  }
  const hasPartition = all[0] === 'ap' && all.length >= 2
  const partition = hasPartition ? all[1]! : 'default'
  const s = hasPartition ? all.slice(2) : all
  if (s.length === 6 && s[0] === 'ns' && s[2] === 'dc' && s[4] === 'svc') {
    return { kind: 'service', trustDomain, partition, namespace: s[1]!, datacenter: s[3]!, service: s[5]! }
  }
  if (s.length === 6 && s[0] === 'agent' && s[1] === 'client' && s[2] === 'dc' && s[4] === 'id') {
    return { kind: 'agent', trustDomain, partition, datacenter: s[3]!, nodeId: s[5]! }
  }
  if (s.length === 4 && s[0] === 'gateway' && s[1] === 'mesh' && s[2] === 'dc') {
    return { kind: 'mesh-gateway', trustDomain, partition, datacenter: s[3]! }
  }
  return null
}

const hexDigits = '0123456789abcdef'

/** Lowercase hex bytes joined by ":" ("3c:9e:a7"); the format of root IDs and SigningKeyID. */
export function colonHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[i]!
    if (i > 0) out += ':'
    out += hexDigits[byte >> 4]! + hexDigits[byte & 15]!
  }
  return out
}

/**
 * A certificate serial as Consul shows it (§7.2): the minimal big-endian magnitude bytes in
 * colon-hex, so 10 is "0a", 300 is "01:2c" and 128 is "80" (no DER sign byte).
 */
export function serialHex (serial: bigint | number): string {
  const value = BigInt(serial)
  if (value < 0n) throw invalidInput(`serial number must not be negative, got ${value}`)
  const hex = value.toString(16)
  const even = hex.length % 2 === 1 ? `0${hex}` : hex
  return even.replace(/(..)(?!$)/g, '$1:')
}
