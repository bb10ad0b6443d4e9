/**
 * Child processes for `npm run bench:kv`: each runs in its own process group (detached) so that
 * stopping it kills the group; its output is drained continuously (a full pipe would stall it)
 * into a bounded tail for error reports. Every process and temp directory the bench makes is
 * registered here, and an exit or signal hook kills the groups and deletes the directories, so
 * an error or Ctrl-C leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly pid: number
  /** Settles once the process has exited (never rejects). */
  readonly exited: Promise<void>
  /** Resolves when a line matching `readyLine` was printed; rejects if the process exits first. */
  readonly ready: Promise<void>
  logs (): string
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv
  /** A stdout/stderr line that means the process is ready; without one, `ready` resolves at once. */
  readonly readyLine?: (line: string) => boolean
}

const liveProcs = new Set<Proc>()
const tempDirs = new Set<string>()
const tailChars = 16_000

export function spawnGroup (name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: options.env ?? process.env })
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${command}`)
  let tail = ''
  let pending = ''
  let readyResolve: () => void = () => {}
  let readyReject: (err: Error) => void = () => {}
  let isReady = options.readyLine === undefined
  const ready = new Promise<void>((resolve, reject) => { readyResolve = resolve; readyReject = reject })
  ready.catch(() => {})
  if (isReady) readyResolve()
  const onChunk = (chunk: string): void => {
    tail = (tail + chunk).slice(-tailChars)
    if (isReady) return
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    if (lines.some(line => options.readyLine!(line))) {
      isReady = true
      pending = ''
      readyResolve()
    }
  }
  child.stdout!.setEncoding('utf8').on('data', onChunk)
  child.stderr!.setEncoding('utf8').on('data', onChunk)
  const exited = new Promise<void>(resolve => child.once('exit', (code, signal) => {
    liveProcs.delete(proc)
    if (!isReady) readyReject(new Error(`${name} exited (${code ?? signal}) before it was ready; output:\n${tail.slice(-4000)}`))
    resolve()
  }))
  const proc: Proc = { name, child, pid: child.pid, exited, ready, logs: () => tail }
  liveProcs.add(proc)
  return proc
}

export function isRunning (proc: Proc | null): proc is Proc {
  return proc !== null && proc.child.exitCode === null && proc.child.signalCode === null
}

export function signalGroup (proc: Proc, signal: NodeJS.Signals): void {
  try { process.kill(-proc.pid, signal) } catch { /* already gone */ }
}

/** SIGKILL to the process group; resolves once the process has exited. */
export async function killGroup (proc: Proc): Promise<void> {
  if (!isRunning(proc)) return
  signalGroup(proc, 'SIGKILL')
  await proc.exited
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once it has exited. */
export async function terminateGroup (proc: Proc, graceMs: number): Promise<void> {
  if (!isRunning(proc)) return
  signalGroup(proc, 'SIGTERM')
  const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs)
  await proc.exited
  clearTimeout(timer)
}

export async function withDeadline<T> (promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export async function makeTempDir (prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

export async function removeTempDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc; NaN elsewhere. */
export async function cpuSeconds (pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 (utime, stime) of proc(5), counted from after the command name.
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return NaN
  }
}

/** Busy CPU seconds of the whole machine (all CPUs) so far, from /proc/stat; NaN elsewhere. */
export async function machineBusySeconds (): Promise<number> {
  try {
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100
  } catch {
    return NaN
  }
}

function cleanupNow (): void {
  for (const proc of liveProcs) signalGroup(proc, 'SIGKILL')
  liveProcs.clear()
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort */ }
  }
  tempDirs.clear()
}

/** Kill every registered process group and delete every temp dir on exit, SIGINT or SIGTERM. */
export function installCleanupHooks (): void {
  process.once('exit', cleanupNow)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}: stopping every process this bench started\n`)
      cleanupNow()
      process.exit(code)
    })
  }
}
