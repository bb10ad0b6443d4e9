/**
 * PEM (RFC 7468) framing for keys, certificates and CSRs: strict decoding with error messages that
 * name the input field (`PrivateKey is not valid PEM: ...`), and encoding with 64-column lines and
 * a trailing newline (Consul guarantees RootCert ends in "\n").
 *
 * Called by: keys.ts, certs.ts, csr.ts, leaf-signer.ts.
 */
import { Buffer } from 'node:buffer'
import { ControlPlaneError } from '../util/errors.js'

/** PEM inputs above this size are refused before any parsing (a chain of a few certs is ~10 KiB). */
export const pemBytesMax = 1024 * 1024

export interface PemBlock {
  readonly label: string
  readonly der: Uint8Array
  /** True when RFC 1421 headers mark the block as encrypted (legacy `Proc-Type: 4,ENCRYPTED`). */
  readonly encrypted: boolean
}

function invalid (field: string, problem: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', `${field} is not valid PEM: ${problem}`, { details: { field } })
}

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/

/** Every PEM block in `text`, in order. Text between blocks is ignored, as OpenSSL does. */
export function decodePemBlocks (text: unknown, field: string): PemBlock[] {
  if (typeof text !== 'string') throw invalid(field, `expected a string, got ${text === null ? 'null' : typeof text}`)
  if (text.length > pemBytesMax) throw invalid(field, `${text.length} characters exceeds the ${pemBytesMax} limit`)
  const blocks: PemBlock[] = []
  const beginPattern = /-----BEGIN ([A-Z0-9 ]+)-----/g
  for (let match = beginPattern.exec(text); match !== null; match = beginPattern.exec(text)) {
    const label = match[1]!
    const endMarker = `-----END ${label}-----`
    const endIndex = text.indexOf(endMarker, beginPattern.lastIndex)
    if (endIndex < 0) throw invalid(field, `"-----BEGIN ${label}-----" has no matching "${endMarker}" line`)
    blocks.push(decodeBody({ label, body: text.slice(beginPattern.lastIndex, endIndex), field }))
    beginPattern.lastIndex = endIndex + endMarker.length
  }
  if (blocks.length === 0) {
    const preview = text.trim().slice(0, 20)
    throw invalid(field, `no "-----BEGIN ...-----" line found${preview === '' ? ' (input is empty)' : ` (input starts with ${JSON.stringify(preview)})`}`)
  }
  return blocks
}

function decodeBody (o: { label: string, body: string, field: string }): PemBlock {
  let lines = o.body.split(/\r?\n/).map(line => line.trim()).filter(line => line !== '')
  let encrypted = false
  if (lines.some(line => line.includes(':'))) {
    // RFC 1421 headers (e.g. "Proc-Type: 4,ENCRYPTED") precede the base64 body.
    const headerLines = lines.filter(line => line.includes(':'))
    encrypted = headerLines.some(line => /^Proc-Type:.*ENCRYPTED/i.test(line))
    lines = lines.filter(line => !line.includes(':'))
  }
  const base64 = lines.join('')
  if (!base64Pattern.test(base64) || base64.length % 4 !== 0) {
    throw invalid(o.field, `the body of the ${o.label} block is not valid base64`)
  }
  const der = new Uint8Array(Buffer.from(base64, 'base64'))
  if (der.length === 0) throw invalid(o.field, `the ${o.label} block is empty`)
  return { label: o.label, der, encrypted }
}

/** The first block whose label is one of `labels`; the error lists the labels that were found. */
export function findPemBlock (o: { blocks: readonly PemBlock[], labels: readonly string[], field: string }): PemBlock {
  const block = o.blocks.find(candidate => o.labels.includes(candidate.label))
  if (block !== undefined) return block
  const found = o.blocks.map(candidate => candidate.label).join(', ')
  throw new ControlPlaneError('ERR_INVALID_INPUT',
    `${o.field} has no ${o.labels.map(label => `"${label}"`).join(' or ')} PEM block (found: ${found})`, { details: { field: o.field } })
}

/** PEM text with 64-character lines and a trailing newline. */
export function encodePem (label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64')
  let body = ''
  for (let offset = 0; offset < base64.length; offset += 64) body += base64.slice(offset, offset + 64) + '\n'
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`
}
