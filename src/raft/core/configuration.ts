/**
 * Cluster membership as carried in 'config' log entries, and the single-server change rules
 * (thesis §4.1): one voter added or removed at a time, new servers join as learners first.
 * The encoding is JSON through TextEncoder so the core needs no serialization package.
 */
import { assert } from '../../util/assert.js'
import type { ConfChange, Configuration, NodeId } from './types.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const emptyConfiguration: Configuration = Object.freeze({ voters: [], learners: [], addresses: {} })

export function encodeConfiguration (configuration: Configuration): Uint8Array {
  const sortedAddresses: Record<NodeId, string> = {}
  for (const id of Object.keys(configuration.addresses).sort()) sortedAddresses[id] = configuration.addresses[id]!
  return encoder.encode(JSON.stringify({ voters: configuration.voters, learners: configuration.learners, addresses: sortedAddresses }))
}

export function decodeConfiguration (data: Uint8Array): Configuration {
  const parsed = JSON.parse(decoder.decode(data)) as Configuration
  assert(Array.isArray(parsed.voters) && Array.isArray(parsed.learners), 'config entry is not a configuration')
  assert(typeof parsed.addresses === 'object' && parsed.addresses !== null, 'config entry has no addresses')
  return parsed
}

export function isMember (configuration: Configuration, id: NodeId): boolean {
  return configuration.voters.includes(id) || configuration.learners.includes(id)
}

/** Applies one change; returns the new configuration or a reason it is not allowed. */
export function applyConfChange (configuration: Configuration, change: ConfChange): Configuration | string {
  const { voters, learners } = configuration
  switch (change.type) {
    case 'addLearner': {
      if (isMember(configuration, change.nodeId)) return `${change.nodeId} is already a member`
      if (change.address.length === 0) return `${change.nodeId} needs an address`
      return {
        voters,
        learners: [...learners, change.nodeId],
        addresses: { ...configuration.addresses, [change.nodeId]: change.address }
      }
    }
    case 'promote': {
      if (voters.includes(change.nodeId)) return `${change.nodeId} is already a voter`
      if (!learners.includes(change.nodeId)) return `${change.nodeId} is not a member; add it as a learner first`
      return { voters: [...voters, change.nodeId], learners: learners.filter(id => id !== change.nodeId), addresses: configuration.addresses }
    }
    case 'remove': {
      if (!isMember(configuration, change.nodeId)) return `${change.nodeId} is not a member`
      if (voters.length === 1 && voters[0] === change.nodeId) return `${change.nodeId} is the last voter`
      const addresses: Record<NodeId, string> = { ...configuration.addresses }
      delete addresses[change.nodeId]
      return {
        voters: voters.filter(id => id !== change.nodeId),
        learners: learners.filter(id => id !== change.nodeId),
        addresses
      }
    }
  }
}

export function quorumSize (voterCount: number): number {
  return Math.floor(voterCount / 2) + 1
}

/**
 * The highest index that a quorum of voters has matched (§5.3, §5.4): sort the match indexes in
 * descending order and take the one at position quorum - 1.
 */
export function quorumMatchIndex (voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0
  const matches = voters.map(matchOf).sort((a, b) => b - a)
  return matches[quorumSize(voters.length) - 1]!
}
