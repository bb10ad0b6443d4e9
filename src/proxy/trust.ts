/**
 * The trust bundle: every CA root the agent reports, active and inactive, with their
 * intermediates (cross-signed certificates after a rotation), as PEM for TLS contexts and as
 * parsed certificates for re-checking live connections.
 *
 * `chainsToBundle` answers "would this peer certificate still verify?" after the bundle
 * changed: it walks from the certificate to a self-signed root of the bundle through issuers
 * found among the bundle's roots and intermediates, checking each signature. It is what closes
 * connections whose issuing root left the bundle (issue #6 point 4).
 *
 * Callers: certificates.ts (bundle from the roots answer), proxy.ts (revocation), tests.
 */
import { X509Certificate } from 'node:crypto'

/** The agent's roots answer (spec §6.1), the fields the proxy reads. */
export interface RootsAnswer {
  readonly ActiveRootID: string
  readonly TrustDomain: string
  readonly Roots: ReadonlyArray<{
    readonly ID: string
    readonly RootCert: string
    readonly IntermediateCerts: readonly string[] | null
    readonly Active: boolean
  }>
}

export interface TrustBundle {
  readonly trustDomain: string
  readonly activeRootId: string
  /** Root IDs, sorted: two bundles with the same IDs trust the same roots. */
  readonly rootIds: readonly string[]
  /** Roots then intermediates, PEM: the `ca` of every TLS context. */
  readonly caPems: readonly string[]
  readonly roots: readonly X509Certificate[]
  readonly intermediates: readonly X509Certificate[]
}

/** Deepest chain walked: leaf, a cross-signed certificate or two, a root. */
const chainDepthMax = 5

export function bundleFromRoots (answer: RootsAnswer): TrustBundle {
  const rootPems = answer.Roots.map(root => withNewline(root.RootCert))
  const intermediatePems = answer.Roots.flatMap(root => (root.IntermediateCerts ?? []).map(withNewline))
  return {
    trustDomain: answer.TrustDomain,
    activeRootId: answer.ActiveRootID,
    rootIds: answer.Roots.map(root => root.ID).sort(),
    caPems: [...rootPems, ...intermediatePems],
    roots: rootPems.map(pem => new X509Certificate(pem)),
    intermediates: intermediatePems.map(pem => new X509Certificate(pem))
  }
}

export function sameRoots (a: TrustBundle, b: TrustBundle): boolean {
  return a.caPems.length === b.caPems.length && a.caPems.every((pem, i) => pem === b.caPems[i])
}

/** True when `cert` verifies up to a self-signed root of `bundle` through the bundle's certificates. */
export function chainsToBundle (cert: X509Certificate, bundle: TrustBundle): boolean {
  return walk(cert, bundle, 0)
}

function walk (cert: X509Certificate, bundle: TrustBundle, depth: number): boolean {
  if (depth >= chainDepthMax) return false
  for (const root of bundle.roots) {
    if (isIssuedBy(cert, root)) return true
  }
  for (const intermediate of bundle.intermediates) {
    if (intermediate.fingerprint256 === cert.fingerprint256) continue
    if (isIssuedBy(cert, intermediate) && walk(intermediate, bundle, depth + 1)) return true
  }
  return false
}

function isIssuedBy (cert: X509Certificate, issuer: X509Certificate): boolean {
  if (!cert.checkIssued(issuer)) return false
  try {
    return cert.verify(issuer.publicKey)
  } catch {
    return false
  }
}

function withNewline (pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`
}
