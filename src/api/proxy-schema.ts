/**
 * The `Proxy` block of a connect-proxy service and its upstreams (spec §3.4), as one schema
 * for both places that read it: catalog registrations (handlers/catalog-body.ts) and agent
 * service definitions (service-definition.ts, which keeps some members opaque and checks them
 * itself). Canonical PascalCase names; snake_case and any case match (validate.ts).
 */
import { field, type ObjectSchema } from './validate.js'

export const meshGatewaySchema: ObjectSchema = { Mode: field.string }

export const upstreamSchema: ObjectSchema = {
  DestinationType: field.string,
  DestinationNamespace: field.string,
  DestinationPartition: field.string,
  DestinationPeer: field.string,
  DestinationName: field.string,
  Datacenter: field.string,
  LocalBindAddress: field.string,
  LocalBindPort: field.port,
  LocalBindSocketPath: field.string,
  LocalBindSocketMode: field.string,
  Config: field.opaque,
  MeshGateway: field.object(meshGatewaySchema),
  CentrallyConfigured: field.boolean
}

export const proxySchema: ObjectSchema = {
  DestinationServiceName: field.string,
  DestinationServiceID: field.string,
  LocalServiceAddress: field.string,
  LocalServicePort: field.port,
  LocalServiceSocketPath: field.string,
  Mode: field.string,
  TransparentProxy: field.opaque,
  Config: field.opaque,
  Upstreams: field.array(field.object(upstreamSchema)),
  MeshGateway: field.object(meshGatewaySchema),
  Expose: field.opaque,
  AccessLogs: field.opaque
}
