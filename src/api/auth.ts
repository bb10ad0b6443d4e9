/**
 * Where a request's ACL token comes from, and keeping it out of logs.
 *
 * Resolution order is Consul's (spec §1.3): a non-empty `?token=` wins, then a non-empty
 * `X-Consul-Token` header, then `Authorization: Bearer <secret>` (scheme case-insensitive, the
 * first space-separated word after it). The agent's default token and the anonymous token are
 * the authorize hook's business, not this module's.
 *
 * Callers: server.ts (once per routed request, before the authorize hook and the body).
 */
import type { QueryParams } from './validate.js'

export type HeaderValue = string | string[] | undefined

function firstHeader (value: HeaderValue): string {
  if (Array.isArray(value)) return value[0] ?? ''
  return value ?? ''
}

export function resolveToken (query: QueryParams, headers: Readonly<Record<string, HeaderValue>>): string | null {
  const fromQuery = query.get('token')
  if (fromQuery !== null && fromQuery !== '') return fromQuery
  const fromHeader = firstHeader(headers['x-consul-token'])
  if (fromHeader !== '') return fromHeader
  return bearerToken(firstHeader(headers.authorization))
}

/** Consul's parse of `Authorization: <Scheme> <Value>`: only the Bearer scheme carries a token. */
function bearerToken (authorization: string): string | null {
  const parts = authorization.split(' ')
  if (parts.length < 2) return null
  if ((parts[0] ?? '').toLowerCase() !== 'bearer') return null
  const value = parts.slice(1).join(' ').trim()
  const token = (value.split(' ')[0] ?? '').trim()
  return token === '' ? null : token
}

/** The request URL with every `token` query value replaced by `<hidden>` (spec §1.3). */
export function redactUrl (url: string): string {
  const queryStart = url.indexOf('?')
  if (queryStart === -1) return url
  const pairs = url.slice(queryStart + 1).split('&').map(pair => {
    const equals = pair.indexOf('=')
    const rawName = equals === -1 ? pair : pair.slice(0, equals)
    return safeDecode(rawName) === 'token' ? `${rawName}=<hidden>` : pair
  })
  return `${url.slice(0, queryStart)}?${pairs.join('&')}`
}

function safeDecode (text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    return text
  }
}
