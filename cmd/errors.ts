/**
 * The CLI's failure vocabulary. Every failure a command can meet is a CliError with a stable
 * `code`; the runner in cli.ts and the commands branch on `code` (never on `instanceof` or the
 * message) to pick the exit status and the wording:
 *
 *   ERR_USAGE               bad flags or arguments: message + usage hint, exit 2
 *   ERR_AGENT_UNREACHABLE   no TCP connection to the agent: `Error querying agent: ...` + hint, exit 1
 *   ERR_TIMEOUT             the agent did not answer before the request deadline, exit 1
 *   ERR_UNEXPECTED_RESPONSE non-2xx answer: `<command prefix>: Unexpected response code: N (body)`, exit 1
 *   ERR_INVALID_RESPONSE    a 2xx answer whose body is not the shape the spec promises, exit 1
 *   ERR_TOO_LARGE           a response body over the client's byte limit, exit 1
 *
 * Only cmd/ uses these; the server-side ControlPlaneError codes (src/util/errors.ts) describe
 * conditions inside the cluster and reach the CLI as HTTP statuses and text bodies.
 */

export type CliErrorCode =
  | 'ERR_USAGE'
  | 'ERR_AGENT_UNREACHABLE'
  | 'ERR_TIMEOUT'
  | 'ERR_UNEXPECTED_RESPONSE'
  | 'ERR_INVALID_RESPONSE'
  | 'ERR_TOO_LARGE'

export class CliError extends Error {
  readonly code: CliErrorCode
  readonly details: Readonly<Record<string, unknown>>

  constructor (code: CliErrorCode, message: string, options: { cause?: unknown, details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CliError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isCliError (err: unknown, code?: CliErrorCode): err is CliError {
  if (typeof err !== 'object' || err === null) return false
  const candidate = err as { name?: unknown, code?: unknown }
  if (candidate.name !== 'CliError' || typeof candidate.code !== 'string') return false
  return code === undefined || candidate.code === code
}

/** A usage error: the message is printed as is, followed by a hint to run `-h`. */
export function usageError (message: string): CliError {
  return new CliError('ERR_USAGE', message)
}

/** The status and body of a non-2xx answer, for callers that need more than the message. */
export function unexpectedResponse (status: number, bodyText: string): CliError {
  // Consul's Go API client words every non-2xx answer this way; tutorials and scripts match it.
  return new CliError('ERR_UNEXPECTED_RESPONSE', `Unexpected response code: ${status} (${bodyText})`, {
    details: { status, body: bodyText }
  })
}

export const agentUnreachableHint =
  "Is the weft agent running? Start one with 'weft agent -dev' or 'npm start', or point -http-addr / CONSUL_HTTP_ADDR at it."
