/**
 * Operating conditions as typed errors. Each has a stable `code`; callers branch on `code`,
 * never on `instanceof` or message text, so errors survive crossing RPC and duplicated modules.
 */
export type ErrorCode =
  | 'ERR_INVALID_INPUT'
  | 'ERR_NOT_FOUND'
  | 'ERR_CAS_MISMATCH'
  | 'ERR_NOT_LEADER'
  | 'ERR_NO_LEADER'
  | 'ERR_LEADERSHIP_LOST'
  | 'ERR_PROPOSAL_DROPPED'
  | 'ERR_TIMEOUT'
  | 'ERR_OVERLOADED'
  | 'ERR_STOPPED'
  | 'ERR_CORRUPT_STORAGE'
  | 'ERR_CONFIG_CHANGE_IN_PROGRESS'
  | 'ERR_TRANSPORT'
  | 'ERR_PERMISSION_DENIED'
  | 'ERR_TOO_LARGE'
  | 'ERR_CONFLICT'
  /** Understood and refused for a reason Consul reports as a 500 with its text ("Connect must be enabled ...", "duplicate intention found ..."). */
  | 'ERR_REJECTED'

export class ControlPlaneError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor (code: ErrorCode, message: string, options: { cause?: unknown, details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ControlPlaneError'
    this.code = code
    this.details = options.details ?? {}
  }

  toJSON (): { code: ErrorCode, message: string, details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details }
  }
}

export function isControlPlaneError (err: unknown, code?: ErrorCode): err is ControlPlaneError {
  if (typeof err !== 'object' || err === null) return false
  const candidate = err as { code?: unknown, message?: unknown }
  if (typeof candidate.code !== 'string' || !candidate.code.startsWith('ERR_')) return false
  return code === undefined || candidate.code === code
}
