/**
 * `weft reload`, `weft services register` and `weft services deregister` (Agent services,
 * #5/#6) as real processes against the HTTP API on a local port, whose agent side is the real
 * LocalServices: outputs, exit statuses, and what the agent ends up with.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startApiFor } from '../../support/api-harness.js'
import { runCli } from './run-cli.js'

test('weft reload: PUT /v1/agent/reload, "Configuration reload triggered"; unexpected args are a usage error', async (t) => {
  const h = await startApiFor(t)
  const done = await runCli(['reload', `-http-addr=${h.base}`])
  assert.deepEqual([done.status, done.stdout, done.stderr], [0, 'Configuration reload triggered\n', ''])
  assert.equal(h.agent.calls.filter(call => call.method === 'reload').length, 1)
  const usage = await runCli(['reload', `-http-addr=${h.base}`, 'extra'])
  assert.equal(usage.status, 2)
  assert.match(usage.stderr, /Error found unexpected args: \[extra\]/)
})

test('weft services register/deregister: from files and from flags', async (t) => {
  const h = await startApiFor(t)
  const dir = await mkdtemp(join(tmpdir(), 'weft-services-cli-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'web.json')
  await writeFile(file, JSON.stringify({ service: { name: 'web', port: 8080, connect: { sidecar_service: {} } } }))
  const registered = await runCli(['services', 'register', `-http-addr=${h.base}`, file])
  assert.deepEqual([registered.status, registered.stdout], [0, 'Registered service: web\n'])
  const byFlags = await runCli(['services', 'register', `-http-addr=${h.base}`, '-name=db', '-port=5432', '-tag=primary', '-meta=team=data'])
  assert.deepEqual([byFlags.status, byFlags.stdout], [0, 'Registered service: db\n'])
  const services = await h.agent.services.listServices({ token: null })
  assert.deepEqual(Object.keys(services), ['db', 'web', 'web-sidecar-proxy'])
  assert.deepEqual([services.db?.Tags, services.db?.Meta, services.db?.Port], [['primary'], { team: 'data' }, 5432])
  const bad = await runCli(['services', 'register', `-http-addr=${h.base}`, '-name=x', '-port=80', '-meta=consul-x=1'])
  assert.equal(bad.status, 1)
  assert.match(bad.stderr, /^Error registering service "x": .*Invalid Service Meta/)
  const none = await runCli(['services', 'register', `-http-addr=${h.base}`])
  assert.equal(none.status, 2)
  assert.match(none.stderr, /^Service registration requires at least one argument or flags.\n/)
  const removed = await runCli(['services', 'deregister', `-http-addr=${h.base}`, file])
  assert.deepEqual([removed.status, removed.stdout], [0, 'Deregistered service: web\n'])
  const removedById = await runCli(['services', 'deregister', `-http-addr=${h.base}`, '-id=db'])
  assert.deepEqual([removedById.status, removedById.stdout], [0, 'Deregistered service: db\n'])
  assert.deepEqual(await h.agent.services.listServices({ token: null }), {})
})
