/**
 * Runs the compiled `weft` binary (dist/cmd/weft.js) as a child process with a clean
 * environment (no inherited CONSUL_* / WEFT_* variables) and collects its exit status and output.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const weftBinary = fileURLToPath(new URL('../../../cmd/weft.js', import.meta.url))

export interface CliResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  readonly stdoutBytes: Buffer
}

export async function runCli (
  args: readonly string[],
  options: { env?: Record<string, string>, input?: string | Buffer, cwd?: string, timeoutMs?: number } = {}
): Promise<CliResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...options.env }
  const child = spawn(process.execPath, [weftBinary, ...args], { env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  child.stdin.end(options.input ?? '')
  const timeoutMs = options.timeoutMs ?? 20_000
  const status = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`weft ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${Buffer.concat(stderr).toString()}`))
    }, timeoutMs)
    child.once('error', reject)
    child.once('close', code => {
      clearTimeout(timer)
      resolve(code)
    })
  })
  const stdoutBytes = Buffer.concat(stdout)
  return { status, stdout: stdoutBytes.toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), stdoutBytes }
}
