/**
 * Small HTTP and CLI helpers shared by the API end-to-end tests (api, snapshot, bad-input,
 * consul-client): one bounded fetch that returns status, headers and body, the query-meta
 * headers as numbers, the `weft` CLI run as a child process with a deadline, and a wrapper that
 * attaches the agents' logs to a failing (sub)test.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import type { AgentCluster, AgentProcess } from './agent-cluster.js'

export interface HttpAnswer {
  readonly status: number
  readonly headers: Headers
  readonly body: Buffer
  readonly text: string
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown
  readonly elapsedMs: number
}

export interface HttpOptions {
  readonly body?: string | Uint8Array
  /** Abort (and fail the test) after this long; every request in these tests is bounded. */
  readonly timeoutMs?: number
  readonly headers?: Record<string, string>
}

/** `agent` may be an AgentProcess or a base URL such as `http://127.0.54.11:8500`. */
export async function http (agent: AgentProcess | string, method: string, path: string, options: HttpOptions = {}): Promise<HttpAnswer> {
  const base = typeof agent === 'string' ? agent : agent.http
  const started = performance.now()
  const response = await fetch(`${base}${path}`, {
    method,
    ...(options.body !== undefined ? { body: options.body } : {}),
    ...(options.headers !== undefined ? { headers: options.headers } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000)
  })
  const body = Buffer.from(await response.arrayBuffer())
  const text = body.toString('utf8')
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.status, headers: response.headers, body, text, json, elapsedMs: performance.now() - started }
}

/** X-Consul-Index as a number (0 when absent). */
export function consulIndex (answer: HttpAnswer): number {
  return Number(answer.headers.get('x-consul-index') ?? 0)
}

export interface KvEntry {
  readonly Key: string
  readonly Value: string | null
  readonly Flags: number
  readonly CreateIndex: number
  readonly ModifyIndex: number
  readonly LockIndex: number
}

/** The decoded value of the first entry of a KV GET answer (null for an empty value). */
export function kvValue (answer: HttpAnswer): string | null {
  const entries = answer.json as KvEntry[]
  const raw = entries[0]?.Value ?? null
  return raw === null ? null : Buffer.from(raw, 'base64').toString('utf8')
}

const weft = fileURLToPath(new URL('../../cmd/weft.js', import.meta.url))

export interface CliResult {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `weft ...args` and waits for it to exit, killing it at the deadline. */
export async function runWeft (args: readonly string[], options: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [weft, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  return await new Promise((resolve, reject) => {
    child.once('error', err => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** Runs a subtest body; on failure attaches every agent's recent log lines, then rethrows. */
export async function withLogs (t: TestContext, cluster: () => AgentCluster | undefined, body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (err) {
    t.diagnostic(cluster()?.logs() ?? '(no cluster)')
    throw err
  }
}
