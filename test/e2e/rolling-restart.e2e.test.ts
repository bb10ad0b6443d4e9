/**
 * `scripts/cluster.sh restart-rolling` under a continuous write load from several clients: no
 * failed request (every non-2xx answer counts, and clients do not retry) and no acknowledged
 * write lost. Runs the real script against its own cluster directory.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const script = fileURLToPath(new URL('../../../scripts/cluster.sh', import.meta.url))

test('restart-rolling under write load: 0 failed and 0 lost acknowledged writes', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-rolling-'))
  const env = { ...process.env, WEFT_CLUSTER_DIR: dir, WEFT_CLUSTER_NET: '127.0.59' }
  t.after(async () => {
    await run('bash', [script, 'stop'], { env }).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  await run('bash', [script, 'start'], { env, timeout: 120_000 })
  const client = 'http://127.0.59.1:8500'
  const acknowledged: string[] = []
  const failures: string[] = []
  let running = true
  const writer = async (id: number): Promise<void> => {
    for (let i = 0; running; i += 1) {
      const key = `rolling/${id}/${i}`
      try {
        const response = await fetch(`${client}/v1/kv/${key}`, { method: 'PUT', body: key, signal: AbortSignal.timeout(15_000) })
        const text = await response.text()
        if (response.status === 200 && text.trim() === 'true') acknowledged.push(key)
        else failures.push(`${key}: ${response.status} ${text}`)
      } catch (err) {
        failures.push(`${key}: ${(err as Error).message}`)
      }
    }
  }
  const writers = Array.from({ length: 4 }, async (_, i) => await writer(i))
  const { stdout } = await run('bash', [script, 'restart-rolling'], { env, timeout: 240_000 })
  running = false
  await Promise.all(writers)
  t.diagnostic(stdout.trim().split('\n').slice(-3).join(' | '))
  t.diagnostic(`${acknowledged.length} acknowledged writes, ${failures.length} failures`)
  assert.ok(acknowledged.length > 100, `only ${acknowledged.length} writes were acknowledged`)
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} requests failed during the rolling restart`)
  const response = await fetch(`${client}/v1/kv/rolling/?recurse&consistent`)
  const entries = await response.json() as Array<{ Key: string }>
  const present = new Set(entries.map(e => e.Key))
  const lost = acknowledged.filter(key => !present.has(key))
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged writes are missing`)
})
