/**
 * Spawns and supervises real processes for end-to-end tests: waits for a JSON `ready` line on
 * stdout under a deadline, keeps stderr for failure reports, and kills what it started.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'

export interface Spawned {
  readonly child: ChildProcess
  readonly ready: Record<string, unknown>
  logs (): string
}

/** The line that says a process is ready: `{"event":"ready"}` or a pino line `msg: "agent ready"`. */
export function isReadyLine (parsed: Record<string, unknown>): boolean {
  return parsed.event === 'ready' || parsed.msg === 'agent ready'
}

export async function spawnReady (command: string, args: readonly string[], options: { timeoutMs: number, what: string }): Promise<Spawned> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const logLines: string[] = []
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    logLines.push(chunk)
    if (logLines.length > 2000) logLines.shift()
  })
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${options.what} did not report ready within ${options.timeoutMs} ms; stderr:\n${logLines.join('').slice(-4000)}`))
    }, options.timeoutMs)
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        logLines.push(line + '\n')
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>
          if (isReadyLine(parsed)) {
            clearTimeout(timer)
            resolve(parsed)
          }
        } catch { /* not a JSON line */ }
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${options.what} exited (${code ?? signal}) before ready; stderr:\n${logLines.join('').slice(-4000)}`))
    })
  })
  return { child, ready, logs: () => logLines.join('') }
}

export async function killHard (spawned: Spawned): Promise<void> {
  if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return
  const exited = new Promise<void>(resolve => spawned.child.once('exit', () => resolve()))
  spawned.child.kill('SIGKILL')
  await exited
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
