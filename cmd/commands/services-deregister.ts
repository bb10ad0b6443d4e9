/**
 * `weft services deregister [options] [FILE...]` (Consul's `consul services deregister`):
 * deregisters the service named by -id, or the services of service definition files (their ID,
 * else their name), through PUT /v1/agent/service/deregister/ID. Prints
 * `Deregistered service: ID` for each.
 */
import { defineCommand, exitSuccess, reportRequestFailure, writeLine, type CommandInput, type RunContext } from '../command.js'
import { usageError } from '../errors.js'
import { flagString, httpClientFlags, type FlagSpec } from '../flags.js'
import { encodeKeyPath } from '../http-client.js'
import { readServiceDefinitions } from './services-register.js'

export type ServicesDeregisterRequest =
  | { readonly kind: 'id', readonly id: string }
  | { readonly kind: 'files', readonly files: readonly string[] }

const flags: readonly FlagSpec[] = [
  { name: 'id', kind: 'string', valueName: 'id', description: 'ID of the service to deregister.' },
  ...httpClientFlags
]

export function parseServicesDeregister (input: CommandInput): ServicesDeregisterRequest {
  const id = flagString(input.flags, 'id')
  if (id !== undefined && input.args.length > 0) throw usageError('Only one of -id or a configuration file may be specified')
  if (id !== undefined) {
    if (id === '') throw usageError('-id must not be empty')
    return { kind: 'id', id }
  }
  if (input.args.length === 0) throw usageError('Either a service ID (-id) or a configuration file must be specified')
  return { kind: 'files', files: input.args }
}

function idOf (definition: Readonly<Record<string, unknown>>): string {
  const value = (key: string): string => {
    const entry = Object.entries(definition).find(([name]) => name.toLowerCase() === key)
    return typeof entry?.[1] === 'string' ? entry[1] : ''
  }
  return value('id') !== '' ? value('id') : value('name')
}

async function runServicesDeregister (request: ServicesDeregisterRequest, context: RunContext): Promise<number> {
  const ids: string[] = request.kind === 'id' ? [request.id] : []
  if (request.kind === 'files') {
    for (const file of request.files) {
      for (const definition of await readServiceDefinitions(file)) {
        const id = idOf(definition)
        if (id === '') throw usageError(`${file}: a service definition has neither an ID nor a name`)
        ids.push(id)
      }
    }
  }
  for (const id of ids) {
    try {
      await (await context.agent()).request({ method: 'PUT', path: `/v1/agent/service/deregister/${encodeKeyPath(id)}` })
    } catch (err) {
      return reportRequestFailure(context.io, `Error deregistering service ${JSON.stringify(id)}`, err)
    }
    writeLine(context.io, `Deregistered service: ${id}`)
  }
  return exitSuccess
}

export const servicesDeregisterCommand = defineCommand<ServicesDeregisterRequest>({
  path: ['services', 'deregister'],
  summary: 'Deregister services from the local agent',
  usage: '[options] [FILE...]',
  help: 'Deregisters the service named by -id, or the services of one or more service definition\n' +
    'files (by ID, else by name), from the local agent.',
  flags,
  parse: parseServicesDeregister,
  run: runServicesDeregister
})
