/**
 * `weft keyring -list | -list-primary | -install KEY | -use KEY | -remove KEY` (Consul's
 * `keyring`, spec §13 and §15): examines and rotates the gossip encryption keys of the whole
 * cluster through the agent's /v1/operator/keyring (GET lists, POST installs, PUT makes primary,
 * DELETE removes; the body is `{"Key": "<base64>"}`).
 *
 * Output as Consul's: an `==> ` line saying what is happening (stdout); for the lists, per pool
 * an empty line, `dc1 (LAN):` (or `WAN:`, a segment appended as ` [seg]`), any per-member
 * notes as `  ===> node: text`, then `  <key> [<holders>/<members>]`. Keys are ordered by
 * holder count, then by text (Consul prints them in Go's random map order). A failed request
 * prints `error: <reason>` on stderr and exits 1.
 *
 * Exit statuses follow Consul's keyring command, which uses 1 where other commands use 2: no
 * action prints the help and exits 1, more than one action prints `Only a single action is
 * allowed` and exits 1. A key that is not a valid gossip key is refused here (exit 1) rather than
 * sent to every member to be refused there.
 */
import { defineCommand, exitFailure, exitSuccess, reportRequestFailure, writeErrorLine, writeLine, type CommandInput, type RunContext } from '../command.js'
import { CliError, usageError } from '../errors.js'
import { flagBoolean, flagString, flagUint, httpClientFlags, type FlagSpec } from '../flags.js'
import type { Refusal } from './intention-create.js'
import { Keyring, type KeyringOperation } from '../../src/gossip/keyring.js'

export type KeyringRequest =
  | { readonly kind: 'list', readonly which: 'keys' | 'primary', readonly relayFactor: number, readonly localOnly: boolean }
  | { readonly kind: 'change', readonly op: KeyringOperation, readonly key: string, readonly relayFactor: number }

/** One pool in the answer to GET /v1/operator/keyring. */
export interface KeyringPool {
  readonly wan: boolean
  readonly datacenter: string
  readonly segment: string
  readonly partition: string
  readonly messages: ReadonlyArray<readonly [string, string]>
  readonly keys: ReadonlyArray<readonly [string, number]>
  readonly primaryKeys: ReadonlyArray<readonly [string, number]>
  readonly numNodes: number
}

/** Consul's limit on -relay-factor. */
export const relayFactorMax = 5

const changeFlags: ReadonlyArray<{ readonly name: string, readonly op: KeyringOperation }> = [
  { name: 'install', op: 'install' },
  { name: 'use', op: 'use' },
  { name: 'remove', op: 'remove' }
]

const flags: readonly FlagSpec[] = [
  { name: 'install', kind: 'string', valueName: 'key', description: 'Install a new encryption key on every member of the cluster.' },
  {
    name: 'list',
    kind: 'boolean',
    description: 'List the keys installed in the cluster and how many members hold each.'
  },
  {
    name: 'list-primary',
    kind: 'boolean',
    description: 'List the primary keys in use in the cluster and how many members encrypt with each.'
  },
  {
    name: 'local-only',
    kind: 'boolean',
    description: 'Ask only the servers of the local datacenter (no WAN traffic); only with -list and -list-primary.'
  },
  {
    name: 'relay-factor',
    kind: 'uint',
    valueName: 'int',
    description: `Have each member relay its answer through this many other members (0 to ${relayFactorMax}). (default: 0)`
  },
  {
    name: 'remove',
    kind: 'string',
    valueName: 'key',
    description: 'Remove a key from every member. The primary key cannot be removed: -use another one first.'
  },
  {
    name: 'use',
    kind: 'string',
    valueName: 'key',
    description: 'Make an installed key the primary, the one every member encrypts with.'
  },
  ...httpClientFlags
]

const help = [
  'Manages the keys that encrypt gossip. Rotating the key of a running cluster',
  'takes three steps (make NEWKEY with weft keygen); each returns once every',
  'member has applied it:',
  '',
  '    $ weft keyring -install NEWKEY    # every member can decrypt with NEWKEY',
  '    $ weft keyring -use NEWKEY        # every member encrypts with NEWKEY',
  '    $ weft keyring -remove OLDKEY     # no member accepts OLDKEY any more',
  '',
  'Exactly one of -list, -list-primary, -install, -use and -remove is required.',
  'The exit status is 0 when every member applied the change or answered, 1',
  'otherwise.'
].join('\n')

export function parseKeyring (input: CommandInput): KeyringRequest | Refusal {
  if (input.args.length > 0) throw usageError(`Too many arguments (expected 0, got ${input.args.length})`)
  const list = flagBoolean(input.flags, 'list')
  const listPrimary = flagBoolean(input.flags, 'list-primary')
  const changes = changeFlags
    .map(({ name, op }) => ({ name, op, key: flagString(input.flags, name) ?? '' }))
    .filter(change => change.key !== '')
  const actionCount = (list ? 1 : 0) + (listPrimary ? 1 : 0) + changes.length
  if (actionCount === 0) return refuse(`Usage: weft keyring [options]\n\n${help}\n\nRun 'weft keyring -h' for the options.`)
  if (actionCount > 1) return refuse('Only a single action is allowed')

  const relayFactor = flagUint(input.flags, 'relay-factor') ?? 0
  if (relayFactor > relayFactorMax) return refuse(`Error parsing relay factor: Relay factor must be in range: [0, ${relayFactorMax}]`)
  const localOnly = flagBoolean(input.flags, 'local-only')
  const [change] = changes
  if (change === undefined) return { kind: 'list', which: list ? 'keys' : 'primary', relayFactor, localOnly }
  if (localOnly) return refuse('Error validating local-only: local-only can only be set for list requests')
  try {
    Keyring.parseKey(change.key, `-${change.name}`)
  } catch (err) {
    return refuse(`error: ${(err as Error).message}`)
  }
  return { kind: 'change', op: change.op, key: change.key, relayFactor }
}

async function runKeyring (request: KeyringRequest | Refusal, context: RunContext): Promise<number> {
  if (request.kind === 'refuse') {
    writeErrorLine(context.io, request.message)
    return request.status
  }
  return request.kind === 'list' ? await runList(request, context) : await runChange(request, context)
}

async function runList (request: Extract<KeyringRequest, { kind: 'list' }>, context: RunContext): Promise<number> {
  const { io } = context
  writeLine(io, request.which === 'keys' ? '==> Gathering installed encryption keys...' : '==> Gathering installed primary encryption keys...')
  let pools: KeyringPool[]
  try {
    const client = await context.agent()
    const answer = await client.requestJson({
      method: 'GET',
      path: '/v1/operator/keyring',
      query: { 'relay-factor': relayQuery(request.relayFactor), 'local-only': request.localOnly ? 'true' : undefined }
    })
    pools = parseKeyringPools(answer.json)
  } catch (err) {
    return reportRequestFailure(io, 'error', err)
  }
  for (const pool of pools) writeLine(io, formatKeyringPool(pool, request.which))
  return exitSuccess
}

const changeMethods = { install: 'POST', use: 'PUT', remove: 'DELETE' } as const
const changeAnnouncements: Readonly<Record<KeyringOperation, string>> = {
  install: '==> Installing new gossip encryption key...',
  use: '==> Changing primary gossip encryption key...',
  remove: '==> Removing gossip encryption key...'
}

async function runChange (request: Extract<KeyringRequest, { kind: 'change' }>, context: RunContext): Promise<number> {
  const { io } = context
  writeLine(io, changeAnnouncements[request.op])
  try {
    const client = await context.agent()
    await client.request({
      method: changeMethods[request.op],
      path: '/v1/operator/keyring',
      query: { 'relay-factor': relayQuery(request.relayFactor) },
      body: Buffer.from(JSON.stringify({ Key: request.key }), 'utf8')
    })
  } catch (err) {
    return reportRequestFailure(io, 'error', err)
  }
  return exitSuccess
}

/** What Consul prints for one pool: an empty line, `dc1 (LAN):`, notes, keys; no final newline. */
export function formatKeyringPool (pool: KeyringPool, which: 'keys' | 'primary'): string {
  const lines = ['', `${poolName(pool)}:`]
  for (const [member, message] of pool.messages) lines.push(`  ===> ${member}: ${message}`)
  for (const [key, count] of which === 'keys' ? pool.keys : pool.primaryKeys) lines.push(`  ${key} [${count}/${pool.numNodes}]`)
  return lines.join('\n')
}

function poolName (pool: KeyringPool): string {
  const name = pool.wan ? 'WAN' : `${pool.datacenter} (LAN)`
  if (pool.segment !== '') return `${name} [${pool.segment}]`
  if (pool.partition !== '' && pool.partition !== 'default') return `${name} [partition: ${pool.partition}]`
  return name
}

/** Checks the answer to GET /v1/operator/keyring and puts keys and notes in display order. */
export function parseKeyringPools (body: unknown): KeyringPool[] {
  if (!Array.isArray(body)) throw invalidAnswer('the keyring list should be a JSON array')
  return body.map((entry: unknown, index) => parseKeyringPool(entry, `[${index}]`))
}

function parseKeyringPool (entry: unknown, where: string): KeyringPool {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalidAnswer(`${where} should be an object`)
  const record = entry as Record<string, unknown>
  const numNodes = record.NumNodes
  if (typeof numNodes !== 'number' || !Number.isSafeInteger(numNodes) || numNodes < 0) throw invalidAnswer(`${where}.NumNodes should be a count`)
  return {
    wan: record.WAN === true,
    datacenter: optionalText(record.Datacenter, `${where}.Datacenter`),
    segment: optionalText(record.Segment, `${where}.Segment`),
    partition: optionalText(record.Partition, `${where}.Partition`),
    messages: Object.entries(optionalRecord(record.Messages, `${where}.Messages`))
      .map(([member, message]): [string, string] => [member, typeof message === 'string' ? message : String(message)])
      .sort(([a], [b]) => compareText(a, b)),
    keys: parseCounts(record.Keys, `${where}.Keys`),
    primaryKeys: parseCounts(record.PrimaryKeys, `${where}.PrimaryKeys`),
    numNodes
  }
}

function parseCounts (value: unknown, where: string): Array<[string, number]> {
  const counts = Object.entries(optionalRecord(value, where)).map(([key, count]): [string, number] => {
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw invalidAnswer(`${where}[${JSON.stringify(key)}] should be a count`)
    return [key, count]
  })
  return counts.sort(([keyA, countA], [keyB, countB]) => countB - countA || compareText(keyA, keyB))
}

function optionalRecord (value: unknown, where: string): Record<string, unknown> {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidAnswer(`${where} should be an object`)
  return value as Record<string, unknown>
}

function optionalText (value: unknown, where: string): string {
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') throw invalidAnswer(`${where} should be a string`)
  return value
}

function invalidAnswer (problem: string): CliError {
  return new CliError('ERR_INVALID_RESPONSE', `unexpected answer from GET /v1/operator/keyring: ${problem}`)
}

function relayQuery (relayFactor: number): string | undefined {
  return relayFactor === 0 ? undefined : String(relayFactor)
}

function refuse (message: string): Refusal {
  return { kind: 'refuse', message, status: exitFailure }
}

function compareText (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export const keyringCommand = defineCommand<KeyringRequest | Refusal>({
  path: ['keyring'],
  summary: 'Manages gossip layer encryption keys',
  usage: '[options]',
  help,
  flags,
  parse: parseKeyring,
  run: runKeyring
})
