/**
 * The environment the CLI reads, read once in weft.ts at start-up and passed down as a frozen
 * CliEnvironment (nothing under cmd/ touches process.env afterwards), plus the pure merge of
 * flags over environment into the settings an HttpClient needs.
 *
 * Precedence, highest first: the flag, WEFT_* variable, CONSUL_* variable, default. For the
 * token: -token, -token-file, *_HTTP_TOKEN_FILE, *_HTTP_TOKEN (Consul's API client lets a token
 * file override a token from the environment).
 */
import { usageError } from './errors.js'
import { flagString, type FlagValues } from './flags.js'

export interface CliEnvironment {
  readonly httpAddr: string | undefined
  readonly httpToken: string | undefined
  readonly httpTokenFile: string | undefined
  /** `*_HTTP_SSL`: the scheme used when the address has none. Raw text; validated on use. */
  readonly httpSsl: string | undefined
  /** `*_HTTP_AUTH`: `user:password` for HTTP basic authentication. */
  readonly httpAuth: string | undefined
}

export const defaultHttpAddr = 'http://127.0.0.1:8500'

export function readCliEnvironment (env: Readonly<Record<string, string | undefined>>): CliEnvironment {
  const pick = (suffix: string): string | undefined => nonEmpty(env[`WEFT_${suffix}`]) ?? nonEmpty(env[`CONSUL_${suffix}`])
  return Object.freeze({
    httpAddr: pick('HTTP_ADDR'),
    httpToken: pick('HTTP_TOKEN'),
    httpTokenFile: pick('HTTP_TOKEN_FILE'),
    httpSsl: pick('HTTP_SSL'),
    httpAuth: pick('HTTP_AUTH')
  })
}

export type TokenSource =
  | { readonly kind: 'none' }
  | { readonly kind: 'value', readonly token: string }
  | { readonly kind: 'file', readonly path: string }

export interface ClientSettings {
  /** Scheme, host and port, no trailing slash: `http://127.0.0.1:8500`. */
  readonly baseUrl: string
  readonly token: TokenSource
  readonly basicAuth: string | undefined
  readonly datacenter: string | undefined
}

export function resolveClientSettings (flags: FlagValues, env: CliEnvironment): ClientSettings {
  const addressFlag = flagString(flags, 'http-addr')
  const addressSource = addressFlag !== undefined ? '-http-addr' : 'CONSUL_HTTP_ADDR / WEFT_HTTP_ADDR'
  const address = addressFlag ?? env.httpAddr ?? defaultHttpAddr
  return {
    baseUrl: normalizeAgentAddress(address, { ssl: parseSsl(env.httpSsl), source: addressSource }),
    token: resolveTokenSource(flags, env),
    basicAuth: env.httpAuth,
    datacenter: nonEmpty(flagString(flags, 'datacenter'))
  }
}

function resolveTokenSource (flags: FlagValues, env: CliEnvironment): TokenSource {
  const tokenFlag = nonEmpty(flagString(flags, 'token'))
  if (tokenFlag !== undefined) return { kind: 'value', token: tokenFlag }
  const fileFlag = nonEmpty(flagString(flags, 'token-file'))
  if (fileFlag !== undefined) return { kind: 'file', path: fileFlag }
  if (env.httpTokenFile !== undefined) return { kind: 'file', path: env.httpTokenFile }
  if (env.httpToken !== undefined) return { kind: 'value', token: env.httpToken }
  return { kind: 'none' }
}

/**
 * `127.0.0.1:8500` → `http://127.0.0.1:8500`; keeps an explicit http:// or https://; rejects
 * anything that is not a bare origin, naming where the value came from.
 */
export function normalizeAgentAddress (address: string, options: { ssl: boolean, source: string }): string {
  const trimmed = address.trim()
  if (trimmed.startsWith('unix://')) {
    throw usageError(`${options.source} ${JSON.stringify(address)}: unix socket addresses are not supported by weft yet; use host:port`)
  }
  const hasScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(trimmed)
  const withScheme = hasScheme ? trimmed : `${options.ssl ? 'https' : 'http'}://${trimmed}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw usageError(`${options.source} ${JSON.stringify(address)} is not a valid address; expected host:port or http(s)://host:port`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${options.source} ${JSON.stringify(address)} has unsupported scheme ${url.protocol.slice(0, -1)}; expected http or https`)
  }
  if (url.hostname === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw usageError(`${options.source} ${JSON.stringify(address)} must be host:port or http(s)://host:port with no path`)
  }
  return url.origin
}

function parseSsl (text: string | undefined): boolean {
  if (text === undefined) return false
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false
  throw usageError(`CONSUL_HTTP_SSL / WEFT_HTTP_SSL must be true or false, got ${JSON.stringify(text)}`)
}

function nonEmpty (text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text
}
