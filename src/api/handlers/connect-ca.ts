/**
 * Connect CA endpoints (spec §6.1, §7.1, §7.2):
 *   GET /v1/connect/ca/roots[?pem]          trusted roots (blocking; ?pem gives the PEM chain)
 *   GET|PUT /v1/connect/ca/configuration    CA config; PUT may rotate the root
 *   GET /v1/agent/connect/ca/roots          the same roots from the agent's cache
 *   GET /v1/agent/connect/ca/leaf/<service> this agent's leaf for a service (key made locally)
 *
 * Callers: routes.ts.
 */
import { invalidInput } from '../errors.js'
import { readOptions } from '../query.js'
import { emptyReply, jsonReply, queryMetaHeaders } from '../reply.js'
import type { ApiReply, ApiRequest, CachedResult, HandlerContext } from '../types.js'
import { decodeJsonBody, decodeObject, describe, field, parseGoBool } from '../validate.js'

export async function caRoots (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const pemText = request.query.get('pem')
  const pem = pemText === null ? false : pemText === '' ? true : parseGoBool(pemText)
  if (pem === null) throw invalidInput("The 'pem' query parameter must be a boolean value")
  const result = await context.serverApi.caRoots(readOptions(request, context, { blocking: true }))
  const headers = queryMetaHeaders(result.meta)
  if (!pem) return jsonReply(result.value, headers)
  let chain = ''
  for (const root of result.value.Roots) {
    chain += withNewline(root.RootCert)
    for (const intermediate of root.IntermediateCerts ?? []) chain += withNewline(intermediate)
  }
  return { kind: 'bytes', status: 200, body: new TextEncoder().encode(chain), contentType: 'application/pem-certificate-chain', headers }
}

export async function caConfigurationGet (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const result = await context.serverApi.caConfiguration(readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, queryMetaHeaders(result.meta))
}

const configSchema = {
  Provider: field.string,
  Config: field.opaque,
  State: field.stringMap,
  ForceWithoutCrossSigning: field.boolean
} as const

export async function caConfigurationPut (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const body = decodeObject(decodeJsonBody(request.body), configSchema, '')
  const config = body.Config ?? {}
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw invalidInput(`Config must be a JSON object of CA settings (LeafCertTTL, PrivateKey, RootCert, ...), got ${describe(config)}`)
  }
  await context.serverApi.caSetConfiguration({
    Provider: (body.Provider as string | undefined) ?? 'consul',
    Config: config as Record<string, unknown>,
    State: (body.State as Record<string, string> | undefined) ?? null,
    ForceWithoutCrossSigning: (body.ForceWithoutCrossSigning as boolean | undefined) ?? false
  }, { token: request.token })
  return emptyReply()
}

export async function agentCaRoots (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const result = await context.agentApi.connectCaRoots(readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, cacheHeaders(result))
}

/** Service names as Consul allows them in a SPIFFE path: letters, digits, '-', '_' and '.'. */
const serviceNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

export async function agentCaLeaf (request: ApiRequest, context: HandlerContext): Promise<ApiReply> {
  const service = request.tail
  if (service === '') throw invalidInput('Missing service name: use GET /v1/agent/connect/ca/leaf/<service>')
  if (!serviceNamePattern.test(service) || service.length > 256) {
    throw invalidInput(`Invalid service name ${JSON.stringify(service)}: use letters, digits, '-', '_' and '.', starting with a letter or digit`)
  }
  const result = await context.agentApi.connectCaLeaf(service, readOptions(request, context, { blocking: true }))
  return jsonReply(result.value, cacheHeaders(result))
}

function cacheHeaders (result: CachedResult<unknown>): Record<string, string> {
  return { 'X-Consul-Index': String(Math.max(1, result.index)), 'X-Cache': result.hit ? 'HIT' : 'MISS' }
}

function withNewline (pem: string): string {
  return pem.endsWith('\n') ? pem : pem + '\n'
}
