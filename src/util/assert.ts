/**
 * Assertions for programmer errors. They stay on in production: a replica that runs on after
 * an impossible state does more harm than one that stops. Never use these for user input.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError'
}

export function assert (condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}

/** Exhaustiveness check for discriminated unions. */
export function assertNever (value: never, what: string): never {
  throw new AssertionError(`unexpected ${what}: ${JSON.stringify(value)}`)
}

export function assertSafeIndex (value: number, what: string): void {
  assert(Number.isSafeInteger(value) && value >= 0, `${what} must be a non-negative safe integer, got ${value}`)
}
