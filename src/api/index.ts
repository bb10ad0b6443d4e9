/**
 * The HTTP API's public surface for the agent (composition root): createHttpApi, the AgentApi
 * contract it implements, and the option types.
 */
export { createHttpApi, type HttpApi } from './server.js'
export {
  defaultHttpLimits,
  type AgentApi, type AgentCallOptions, type AgentMember, type AgentSelf, type AuthorizeHook, type AuthorizeRequest,
  type HttpApiOptions, type HttpLimits
} from './types.js'
