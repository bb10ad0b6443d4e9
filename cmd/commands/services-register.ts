/**
 * `weft services register [options] [FILE...]` (Consul's `consul services register`): registers
 * the services of service definition files (`{"service": {...}}` or `{"services": [...]}`, the
 * format of -config-dir files) or one service from flags (-name, -id, -address, -port, -tag,
 * -meta key=value), through PUT /v1/agent/service/register. Prints `Registered service: NAME`
 * for each. A file that cannot be read or holds no service definition is a usage error.
 */
import { readFile } from 'node:fs/promises'
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagString, flagStringList, flagUint, httpClientFlags, type FlagSpec } from '../flags.js'

export type ServicesRegisterRequest =
  | { readonly kind: 'files', readonly files: readonly string[] }
  | { readonly kind: 'flags', readonly service: Readonly<Record<string, unknown>> }

const flags: readonly FlagSpec[] = [
  { name: 'name', kind: 'string', valueName: 'name', description: 'Name of the service to register (when no file is given).' },
  { name: 'id', kind: 'string', valueName: 'id', description: 'ID of the service to register; defaults to its name.' },
  { name: 'address', kind: 'string', valueName: 'addr', description: 'Address of the service; defaults to the node\'s address.' },
  { name: 'port', kind: 'uint', valueName: 'port', description: 'Port of the service.' },
  { name: 'tag', kind: 'stringList', valueName: 'tag', description: 'Tag to add to the service (repeatable).' },
  { name: 'meta', kind: 'stringList', valueName: 'key=value', description: 'Metadata to set on the service, as key=value (repeatable).' },
  ...httpClientFlags
]

export function parseServicesRegister (input: CommandInput): ServicesRegisterRequest {
  const name = flagString(input.flags, 'name')
  if (input.args.length > 0) {
    if (name !== undefined) throw usageError('Flags and configuration files cannot both be specified')
    return { kind: 'files', files: input.args }
  }
  if (name === undefined || name === '') throw usageError('Service registration requires at least one argument or flags.')
  const meta: Record<string, string> = {}
  for (const pair of flagStringList(input.flags, 'meta')) {
    const equals = pair.indexOf('=')
    if (equals <= 0) throw usageError(`-meta must be key=value, got ${JSON.stringify(pair)}`)
    meta[pair.slice(0, equals)] = pair.slice(equals + 1)
  }
  const port = flagUint(input.flags, 'port')
  if (port !== undefined && port > 65535) throw usageError(`-port must be at most 65535, got ${port}`)
  return {
    kind: 'flags',
    service: {
      Name: name,
      ...(flagString(input.flags, 'id') !== undefined ? { ID: flagString(input.flags, 'id') } : {}),
      ...(flagString(input.flags, 'address') !== undefined ? { Address: flagString(input.flags, 'address') } : {}),
      ...(port !== undefined ? { Port: port } : {}),
      Tags: flagStringList(input.flags, 'tag'),
      Meta: meta
    }
  }
}

/** The service definitions of one file: `service` (an object) and/or `services` (a list). */
export async function readServiceDefinitions (path: string): Promise<Array<Record<string, unknown>>> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw usageError(`Error reading ${path}: ${(err as Error).message}`)
  }
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
  if (!isObject(parsed)) throw usageError(`${path}: expected a JSON object with "service" or "services"`)
  const definitions: Array<Record<string, unknown>> = []
  for (const [key, value] of Object.entries(parsed)) {
    if (key.toLowerCase() === 'service' && isObject(value)) definitions.push(value)
    else if (key.toLowerCase() === 'services' && Array.isArray(value)) definitions.push(...value.filter(isObject))
  }
  if (definitions.length === 0) throw usageError(`${path}: no service definition ("service" or "services") found`)
  return definitions
}

function nameOf (definition: Readonly<Record<string, unknown>>): string {
  const entry = Object.entries(definition).find(([key]) => key.toLowerCase() === 'name')
  return typeof entry?.[1] === 'string' ? entry[1] : ''
}

async function runServicesRegister (request: ServicesRegisterRequest, context: RunContext): Promise<number> {
  const definitions: Array<Readonly<Record<string, unknown>>> = request.kind === 'flags' ? [request.service] : []
  if (request.kind === 'files') for (const file of request.files) definitions.push(...await readServiceDefinitions(file))
  for (const definition of definitions) {
    const name = nameOf(definition)
    try {
      await (await context.agent()).request({ method: 'PUT', path: '/v1/agent/service/register', body: new TextEncoder().encode(JSON.stringify(definition)) })
    } catch (err) {
      return reportRequestFailure(context.io, `Error registering service ${JSON.stringify(name)}`, err)
    }
    writeLine(context.io, `Registered service: ${name}`)
  }
  return exitSuccess
}

export const servicesRegisterCommand = defineCommand<ServicesRegisterRequest>({
  path: ['services', 'register'],
  summary: 'Register services with the local agent',
  usage: '[options] [FILE...]',
  help: 'Registers the services of one or more service definition files (the -config-dir format),\n' +
    'or one service described by flags, with the local agent. The agent keeps them in the catalog.',
  flags,
  parse: parseServicesRegister,
  run: runServicesRegister
})
