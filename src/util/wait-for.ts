/**
 * Polls a check until it returns a value other than undefined/false, or throws on the deadline
 * with the last observed value. The only sanctioned way for tests to wait on real processes.
 */
export interface WaitForOptions {
  readonly timeoutMs: number
  readonly intervalMs?: number
  readonly what: string
}

export async function waitFor<T> (check: () => T | undefined | false | Promise<T | undefined | false>, options: WaitForOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  const intervalMs = options.intervalMs ?? 25
  let last: unknown
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      last = value
      if (value !== undefined && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const observed = lastError !== undefined ? `last error: ${String((lastError as Error)?.message ?? lastError)}` : `last value: ${JSON.stringify(last)}`
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what} (${observed})`)
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
