/**
 * The route table: path, allowed methods (in the order Consul lists them in `Allow`), the
 * handler for each method, and which body limit applies (body.ts).
 *
 * A path ending in "/" is a prefix route, as in Consul's mux: the remainder (which may contain
 * "/", e.g. a KV key) becomes ApiRequest.tail. server.ts registers each path with every HTTP
 * method and answers OPTIONS and 405 itself from `handlers`' keys.
 *
 * Callers: server.ts.
 */
import * as agent from './handlers/agent.js'
import * as agentServices from './handlers/agent-services.js' // Agent services (#5/#6)
import * as catalog from './handlers/catalog.js'
import * as connectCa from './handlers/connect-ca.js'
import * as connectCatalog from './handlers/connect-catalog.js' // Connect proxy (#6)
import { connectAuthorize } from './handlers/connect-authorize.js' // Intentions (#4)
import * as intentions from './handlers/intentions.js' // Intentions (#4)
import * as keyring from './handlers/keyring.js'
import * as kv from './handlers/kv.js'
import * as operator from './handlers/operator.js'
import { txn } from './handlers/txn.js'
import type { BodyKind, Handler, HttpMethod } from './types.js'

export interface RouteDefinition {
  readonly path: string
  /** Declaration order is the order of the Allow header after OPTIONS. */
  readonly handlers: Readonly<Partial<Record<HttpMethod, Handler>>>
  readonly bodyKind: BodyKind
}

export const routes: readonly RouteDefinition[] = [
  { path: '/v1/status/leader', handlers: { GET: operator.statusLeader }, bodyKind: 'none' },
  { path: '/v1/status/peers', handlers: { GET: operator.statusPeers }, bodyKind: 'none' },

  { path: '/v1/kv/', handlers: { GET: kv.kvGet, PUT: kv.kvPut, DELETE: kv.kvDelete }, bodyKind: 'kv' },
  { path: '/v1/txn', handlers: { PUT: txn }, bodyKind: 'txn' },

  { path: '/v1/catalog/register', handlers: { PUT: catalog.catalogRegister }, bodyKind: 'json' },
  { path: '/v1/catalog/deregister', handlers: { PUT: catalog.catalogDeregister }, bodyKind: 'json' },
  { path: '/v1/catalog/services', handlers: { GET: catalog.catalogServices }, bodyKind: 'none' },
  { path: '/v1/catalog/nodes', handlers: { GET: catalog.catalogNodes }, bodyKind: 'none' },
  { path: '/v1/catalog/service/', handlers: { GET: catalog.catalogService }, bodyKind: 'none' },
  { path: '/v1/catalog/node/', handlers: { GET: catalog.catalogNode }, bodyKind: 'none' },
  { path: '/v1/health/service/', handlers: { GET: catalog.healthService }, bodyKind: 'none' },

  { path: '/v1/agent/self', handlers: { GET: agent.agentSelf }, bodyKind: 'none' },
  { path: '/v1/agent/members', handlers: { GET: agent.agentMembers }, bodyKind: 'none' },
  { path: '/v1/agent/join/', handlers: { PUT: agent.agentJoin }, bodyKind: 'none' },
  { path: '/v1/agent/leave', handlers: { PUT: agent.agentLeave }, bodyKind: 'none' },
  { path: '/v1/agent/reload', handlers: { PUT: agent.agentReload }, bodyKind: 'none' },

  { path: '/v1/operator/raft/configuration', handlers: { GET: operator.raftConfiguration }, bodyKind: 'none' },
  { path: '/v1/operator/raft/peer', handlers: { DELETE: operator.raftRemovePeer }, bodyKind: 'none' },
  { path: '/v1/operator/raft/transfer-leader', handlers: { POST: operator.raftTransferLeader }, bodyKind: 'none' },
  { path: '/v1/snapshot', handlers: { GET: operator.snapshotSave, PUT: operator.snapshotRestore }, bodyKind: 'snapshot' },

  // Keyring (#5)
  { path: '/v1/operator/keyring', handlers: { GET: keyring.keyringList, POST: keyring.keyringInstall, PUT: keyring.keyringUse, DELETE: keyring.keyringRemove }, bodyKind: 'json' },

  // Connect CA (#4)
  { path: '/v1/connect/ca/roots', handlers: { GET: connectCa.caRoots }, bodyKind: 'none' },
  { path: '/v1/connect/ca/configuration', handlers: { GET: connectCa.caConfigurationGet, PUT: connectCa.caConfigurationPut }, bodyKind: 'json' },
  { path: '/v1/agent/connect/ca/roots', handlers: { GET: connectCa.agentCaRoots }, bodyKind: 'none' },
  { path: '/v1/agent/connect/ca/leaf/', handlers: { GET: connectCa.agentCaLeaf }, bodyKind: 'none' },

  // Intentions (#4): the fixed paths win over the /<uuid> subtree (fastify prefers static routes).
  { path: '/v1/connect/intentions', handlers: { GET: intentions.intentionList, POST: intentions.intentionCreate }, bodyKind: 'json' },
  { path: '/v1/connect/intentions/match', handlers: { GET: intentions.intentionMatch }, bodyKind: 'none' },
  { path: '/v1/connect/intentions/check', handlers: { GET: intentions.intentionCheck }, bodyKind: 'none' },
  {
    path: '/v1/connect/intentions/exact',
    handlers: { GET: intentions.intentionGetExact, PUT: intentions.intentionUpsertExact, DELETE: intentions.intentionDeleteExact },
    bodyKind: 'json'
  },
  {
    path: '/v1/connect/intentions/',
    handlers: { GET: intentions.intentionGet, PUT: intentions.intentionUpdate, DELETE: intentions.intentionDelete },
    bodyKind: 'json'
  },
  { path: '/v1/agent/connect/authorize', handlers: { POST: connectAuthorize }, bodyKind: 'json' },

  // Connect proxy (#6): mesh-capable endpoints of a service.
  { path: '/v1/catalog/connect/', handlers: { GET: connectCatalog.catalogConnect }, bodyKind: 'none' },
  { path: '/v1/health/connect/', handlers: { GET: connectCatalog.healthConnect }, bodyKind: 'none' },

  // Agent services (#5/#6): local services and checks (spec §3). Fixed paths win over the
  // /v1/agent/service/<id> subtree (fastify prefers static and longer routes).
  { path: '/v1/agent/services', handlers: { GET: agentServices.servicesList }, bodyKind: 'none' },
  { path: '/v1/agent/service/register', handlers: { PUT: agentServices.serviceRegister }, bodyKind: 'json' },
  { path: '/v1/agent/service/deregister/', handlers: { PUT: agentServices.serviceDeregister }, bodyKind: 'none' },
  { path: '/v1/agent/service/maintenance/', handlers: { PUT: agentServices.serviceMaintenance }, bodyKind: 'none' },
  { path: '/v1/agent/service/', handlers: { GET: agentServices.serviceGet }, bodyKind: 'none' },
  { path: '/v1/agent/checks', handlers: { GET: agentServices.checksList }, bodyKind: 'none' },
  { path: '/v1/agent/check/register', handlers: { PUT: agentServices.checkRegister }, bodyKind: 'json' },
  { path: '/v1/agent/check/deregister/', handlers: { PUT: agentServices.checkDeregister }, bodyKind: 'none' },
  { path: '/v1/agent/check/pass/', handlers: { PUT: agentServices.checkPass }, bodyKind: 'none' },
  { path: '/v1/agent/check/warn/', handlers: { PUT: agentServices.checkWarn }, bodyKind: 'none' },
  { path: '/v1/agent/check/fail/', handlers: { PUT: agentServices.checkFail }, bodyKind: 'none' },
  { path: '/v1/agent/check/update/', handlers: { PUT: agentServices.checkUpdate }, bodyKind: 'json' },
  { path: '/v1/agent/maintenance', handlers: { PUT: agentServices.nodeMaintenance }, bodyKind: 'none' },
  { path: '/v1/agent/health/service/id/', handlers: { GET: agentServices.serviceHealthById }, bodyKind: 'none' },
  { path: '/v1/agent/health/service/name/', handlers: { GET: agentServices.serviceHealthByName }, bodyKind: 'none' },
  { path: '/v1/agent/connect/proxy/', handlers: { GET: agentServices.managedProxyConfig }, bodyKind: 'none' }
]

export function allowedMethods (route: RouteDefinition): HttpMethod[] {
  return Object.keys(route.handlers) as HttpMethod[]
}

/** Consul's Allow header: OPTIONS first, then the route's methods, comma-joined without spaces. */
export function allowHeader (route: RouteDefinition): string {
  return ['OPTIONS', ...allowedMethods(route)].join(',')
}
