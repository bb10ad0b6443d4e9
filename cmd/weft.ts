#!/usr/bin/env node
/**
 * The `weft` executable (package.json `bin`). Reads the environment and package.json once,
 * wires real stdio into cli.ts's `main`, and sets the exit status. Everything else lives in
 * cli.ts and commands/*.ts.
 *
 * The process ends by itself once its work is done (process.exitCode, not process.exit), so
 * piped stdout is always flushed; `weft agent` keeps running until the agent stops.
 */
import { readFileSync } from 'node:fs'
import { main } from './cli.js'
import { readCliEnvironment } from './environment.js'

function readVersion (): string {
  try {
    // dist/cmd/weft.js → package.json at the repository root.
    const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown }
    return typeof packageJson.version === 'string' ? packageJson.version : 'unknown'
  } catch {
    return 'unknown'
  }
}

async function readStdin (bytesMax: number): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  let byteCount = 0
  for await (const chunk of process.stdin) {
    const buffer = chunk as Buffer
    byteCount += buffer.byteLength
    if (byteCount > bytesMax) throw new Error(`more than ${bytesMax} bytes on standard input`)
    chunks.push(buffer)
  }
  return Buffer.concat(chunks, byteCount)
}

const io = {
  stdout: (data: string | Uint8Array): void => { process.stdout.write(data) },
  stderr: (text: string): void => { process.stderr.write(text) },
  readStdin
}

try {
  process.exitCode = await main(process.argv.slice(2), { env: readCliEnvironment(process.env), io, version: readVersion() })
} catch (err) {
  // A bug, not an operating condition: show everything we know.
  process.stderr.write(`weft: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
}
