/**
 * Peer identities on the data path (spec §6.3, §7.4), as pure functions over certificate
 * fields:
 * - a certificate's URI SANs, from Node's `subjectAltName` text (`URI:spiffe://..., DNS:x`;
 *   values with special characters arrive JSON-quoted);
 * - the source service of an inbound connection: the client certificate must carry exactly one
 *   URI SAN, a SPIFFE service ID;
 * - the check an upstream makes of the server it dialled: its one URI SAN must be exactly
 *   `spiffe://<trust-domain>/ns/default/dc/<dc>/svc/<destination>` (trust domain compared
 *   case-insensitively, everything else exactly). Any other identity, another service's
 *   included, is refused.
 *
 * Callers: listener.ts (inbound), upstream.ts (outbound checkServerIdentity), tests.
 */
import { parseSpiffeId } from '../ca/spiffe.js'

/** The URI SANs of a certificate, in order. */
export function uriSans (subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return []
  const uris: string[] = []
  for (const entry of splitAltNames(subjectAltName)) {
    if (!entry.startsWith('URI:')) continue
    const raw = entry.slice(4)
    uris.push(raw.startsWith('"') ? unquote(raw) : raw)
  }
  return uris
}

/** Splits on ", " outside JSON-quoted values (Node quotes values that contain ',' or '"'). */
function splitAltNames (text: string): string[] {
  const entries: string[] = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i]
    if (char === '"' && text[i - 1] !== '\\') quoted = !quoted
    if (!quoted && char === ',' && text[i + 1] === ' ') {
      entries.push(text.slice(start, i))
      start = i + 2
      i += 1
    }
  }
  entries.push(text.slice(start))
  return entries
}

function unquote (raw: string): string {
  try {
    const value: unknown = JSON.parse(raw)
    return typeof value === 'string' ? value : raw
  } catch {
    return raw
  }
}

export type PeerService =
  | { readonly ok: true, readonly uri: string, readonly service: string, readonly namespace: string, readonly datacenter: string, readonly trustDomain: string }
  | { readonly ok: false, readonly reason: string }

/** The service a client certificate speaks for, or why it speaks for none. */
export function peerService (subjectAltName: string | undefined): PeerService {
  const uris = uriSans(subjectAltName)
  if (uris.length !== 1) return { ok: false, reason: `certificate must carry exactly one URI SAN, found ${uris.length}` }
  const uri = uris[0] as string
  let parsed
  try {
    parsed = parseSpiffeId(uri)
  } catch (err) {
    return { ok: false, reason: `certificate URI ${JSON.stringify(uri)} is not a SPIFFE ID: ${(err as Error).message}` }
  }
  if (parsed.kind !== 'service') return { ok: false, reason: `certificate URI ${JSON.stringify(uri)} is a ${parsed.kind} identity, not a service` }
  return { ok: true, uri, service: parsed.service, namespace: parsed.namespace, datacenter: parsed.datacenter, trustDomain: parsed.trustDomain }
}

export interface ExpectedService {
  readonly trustDomain: string
  readonly datacenter: string
  readonly service: string
}

/** The URI an upstream expects of the server it dials. */
export function expectedServiceUri (expected: ExpectedService): string {
  return `spiffe://${expected.trustDomain.toLowerCase()}/ns/default/dc/${expected.datacenter}/svc/${expected.service}`
}

/**
 * null when the server certificate's identity is exactly the expected service, otherwise the
 * reason it is refused. Partitions other than default are refused (CE).
 */
export function checkServerService (subjectAltName: string | undefined, expected: ExpectedService): string | null {
  const peer = peerService(subjectAltName)
  const want = expectedServiceUri(expected)
  if (!peer.ok) return `server certificate refused (want ${want}): ${peer.reason}`
  const matches = peer.trustDomain === expected.trustDomain.toLowerCase() && peer.namespace === 'default' &&
    peer.datacenter === expected.datacenter && peer.service === expected.service && !/\/ap\//.test(peer.uri)
  return matches ? null : `server certificate is for ${peer.uri}, want ${want}`
}
