/**
 * The one table from error code to HTTP status and body (spec §1.2). Every error a handler or
 * the ServerApi/AgentApi raises goes through `errorReply`; nothing else picks an error status.
 *
 * Bodies are text/plain like Consul's (node-consul uses the body as the error message). Codes
 * with a fixed Consul text use it whatever the message; codes whose message was written for the
 * user (400/404/409/413/503/504) send the message. Anything else, including errors that are not
 * ControlPlaneErrors, answers 500 with a generic text: the caller logs the real error.
 *
 * Callers: server.ts (error handler), handlers that shape Consul's own error texts.
 */
import { ControlPlaneError, isControlPlaneError, type ErrorCode } from '../util/errors.js'

export const textContentType = 'text/plain; charset=utf-8'

export const internalErrorText = 'Internal server error'

interface StatusRule {
  readonly status: number
  /** Fixed Consul text; null sends the error's message. */
  readonly fixedBody: string | null
}

const statusByCode: Partial<Record<ErrorCode, StatusRule>> = {
  ERR_INVALID_INPUT: { status: 400, fixedBody: null },
  ERR_PERMISSION_DENIED: { status: 403, fixedBody: 'Permission denied' },
  ERR_NOT_FOUND: { status: 404, fixedBody: null },
  ERR_CONFLICT: { status: 409, fixedBody: null },
  ERR_TOO_LARGE: { status: 413, fixedBody: null },
  ERR_OVERLOADED: { status: 429, fixedBody: 'Rate limit reached, try again later' },
  ERR_NO_LEADER: { status: 500, fixedBody: 'No cluster leader' },
  ERR_REJECTED: { status: 500, fixedBody: null },
  ERR_STOPPED: { status: 503, fixedBody: null },
  ERR_TIMEOUT: { status: 504, fixedBody: null }
}

export interface ErrorReply {
  readonly status: number
  readonly body: string
  /** True when the status is 500 with the generic text: log the error at error level. */
  readonly isInternal: boolean
}

export function errorReply (err: unknown): ErrorReply {
  if (!isControlPlaneError(err)) return { status: 500, body: internalErrorText, isInternal: true }
  const rule = statusByCode[err.code]
  if (rule === undefined) return { status: 500, body: internalErrorText, isInternal: true }
  return { status: rule.status, body: bodyFor(err, rule), isInternal: false }
}

function bodyFor (err: ControlPlaneError, rule: StatusRule): string {
  if (rule.fixedBody === null) return err.message
  // The ACL system may add Consul's modern detail ("Permission denied: token with AccessorID ...")
  // or answer "ACL not found"; keep those, replace anything else with the fixed text.
  if (err.code === 'ERR_PERMISSION_DENIED' && (err.message.startsWith('Permission denied') || err.message === 'ACL not found')) {
    return err.message
  }
  return rule.fixedBody
}

/** Bad input at the HTTP edge: 400 with a message naming the field, the value and the expectation. */
export function invalidInput (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_INVALID_INPUT', message)
}

export function tooLarge (message: string): ControlPlaneError {
  return new ControlPlaneError('ERR_TOO_LARGE', message)
}
