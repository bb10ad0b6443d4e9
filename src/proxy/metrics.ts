/**
 * The proxy's counters, kept in one plain object (a later issue exposes them as metrics).
 * "in" is data that arrived from the mesh (a remote proxy) and was delivered locally; "out" is
 * data read locally and sent into the mesh. Bytes are counted when a connection ends (from the
 * plain, local side of each splice, so TLS overhead is not counted).
 *
 * Callers: listener.ts, upstream.ts, proxy.ts (reads, logs at shutdown).
 */
export interface ProxyCounters {
  /** Inbound TLS connections whose handshake completed. */
  inboundAccepted: number
  /** Inbound connections refused by intentions (at accept time). */
  inboundDenied: number
  /** Inbound connections refused because the client identity was unusable, or authorize failed. */
  inboundRefused: number
  /** TLS handshakes on the public listener that failed (bad or missing client certificate, timeouts, plain TCP). */
  inboundHandshakeFailed: number
  /** Inbound connections dropped because the local application could not be reached. */
  inboundLocalDialFailed: number
  /** Open connections closed because an intention change now denies their source. */
  inboundClosedByIntention: number
  /** Open connections closed because the root that issued the peer's certificate left the bundle. */
  closedByRootRemoval: number
  /** Local connections accepted on upstream listeners. */
  outboundAccepted: number
  /** Outbound connections whose TLS handshake and identity check succeeded. */
  outboundEstablished: number
  /** Single dial attempts that failed (the connection may still succeed on the next endpoint). */
  outboundDialFailed: number
  /** Local connections closed because no endpoint could be reached (or none exists). */
  outboundFailed: number
  /** Outbound TLS sessions resumed instead of a full handshake. */
  outboundResumed: number
  activeInbound: number
  activeOutbound: number
  bytesIn: number
  bytesOut: number
}

export function newCounters (): ProxyCounters {
  return {
    inboundAccepted: 0,
    inboundDenied: 0,
    inboundRefused: 0,
    inboundHandshakeFailed: 0,
    inboundLocalDialFailed: 0,
    inboundClosedByIntention: 0,
    closedByRootRemoval: 0,
    outboundAccepted: 0,
    outboundEstablished: 0,
    outboundDialFailed: 0,
    outboundFailed: 0,
    outboundResumed: 0,
    activeInbound: 0,
    activeOutbound: 0,
    bytesIn: 0,
    bytesOut: 0
  }
}
