/**
 * loadConfigFiles and loadAgentConfig on real files: -config-dir reads *.json in lexical
 * order and skips subdirectories and other extensions; arguments load in command-line order;
 * .hcl is refused naming the file; missing files and bad JSON are all reported at once; and
 * the whole path from argv to Config honours defaults < file1 < file2 < flags.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatProblems, loadAgentConfig, loadConfigFiles, type ConfigPathArg } from '../../../src/config/load.js'
import { HOST } from './helpers.js'

function tempDir (t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-config-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function write (path: string, content: unknown): string {
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return path
}

const fileArg = (path: string): ConfigPathArg => ({ kind: 'file', path, flag: '-config-file' })
const dirArg = (path: string): ConfigPathArg => ({ kind: 'dir', path, flag: '-config-dir' })

test('-config-dir: .json files in lexical order; subdirectories skipped; other extensions warned', (t) => {
  const dir = tempDir(t)
  for (const name of ['b.json', 'a.json', '10-net.json', '9-base.json']) write(join(dir, name), { node_name: name })
  mkdirSync(join(dir, 'sub.json'))
  write(join(dir, 'sub.json', 'inner.json'), {})
  write(join(dir, 'README.md'), '# notes')
  const result = loadConfigFiles([dirArg(dir)])
  assert.deepEqual(result.files.map((file) => file.data.node_name), ['10-net.json', '9-base.json', 'a.json', 'b.json'])
  assert.deepEqual(result.errors, [])
  assert.deepEqual(result.warnings.map((item) => item.message), [
    `${join(dir, 'README.md')} (from -config-dir ${dir}) was skipped: files in a config directory must end in .json (or pass -config-format=json)`
  ])
})

test('files and directories load in command-line order; either flag accepts either kind', (t) => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'd'))
  write(join(dir, 'd', 'x.json'), { n: 'dir' })
  const first = write(join(dir, 'first.json'), { n: 'first' })
  const last = write(join(dir, 'last.json'), { n: 'last' })
  const result = loadConfigFiles([fileArg(first), dirArg(join(dir, 'd')), fileArg(last), dirArg(first)])
  assert.deepEqual(result.files.map((file) => file.data.n), ['first', 'dir', 'last', 'first'])
})

test('.hcl files are refused naming the file, with what to do; all file problems are reported at once', (t) => {
  const dir = tempDir(t)
  write(join(dir, 'agent.hcl'), 'server = true')
  write(join(dir, 'bad.json'), '{\n  "server": true,\n  "datacenter": "dc1"\n  "node_name": "x"\n}')
  write(join(dir, 'list.json'), '[1, 2]')
  const missing = join(dir, 'missing.json')
  const result = loadConfigFiles([dirArg(dir), fileArg(missing)])
  assert.deepEqual(result.files, [])
  assert.deepEqual(result.errors.map((item) => item.message), [
    `${join(dir, 'agent.hcl')} (from -config-dir ${dir}) is an HCL file, and weft does not read HCL yet: write the same settings as JSON (same key names, e.g. {"server": true, "bootstrap_expect": 3}) in a .json file`,
    `${join(dir, 'bad.json')} (from -config-dir ${dir}) is not valid JSON at line 4, column 3: ${jsonErrorOf('{\n  "server": true,\n  "datacenter": "dc1"\n  "node_name": "x"\n}')}`,
    `${join(dir, 'list.json')} (from -config-dir ${dir}) must contain a JSON object ({ ... }) at the top level`,
    `-config-file ${missing} does not exist`
  ])
  assert.deepEqual(result.errors[0], { key: '-config-dir', source: join(dir, 'agent.hcl'), message: result.errors[0]?.message })
})

function jsonErrorOf (text: string): string {
  try {
    JSON.parse(text)
  } catch (err) {
    return (err as Error).message
  }
  return 'parsed'
}

test('an explicitly named file needs .json unless -config-format=json; a BOM is fine', (t) => {
  const dir = tempDir(t)
  const conf = write(join(dir, 'agent.conf'), '\uFEFF{"server": true}')
  assert.deepEqual(loadConfigFiles([fileArg(conf)]).errors.map((item) => item.message), [
    `-config-file ${conf} is not a .json file: rename it to end in .json, or pass -config-format=json`
  ])
  const forced = loadConfigFiles([fileArg(conf)], { format: 'json' })
  assert.deepEqual(forced.errors, [])
  assert.deepEqual(forced.files, [{ path: conf, data: { server: true } }])
})

test('loadAgentConfig: defaults < file1 < file2 < flags, end to end', (t) => {
  const dir = tempDir(t)
  write(join(dir, '1-base.json'), { datacenter: 'east', data_dir: join(dir, 'data'), server: true, ports: { http: 18500, dns: 18600 }, retry_join: ['10.0.0.1'] })
  write(join(dir, '2-site.json'), { datacenter: 'west', ports: { http: 28500 }, retry_join: ['10.0.0.2'] })
  const argv = ['-config-dir', dir, '-datacenter=north', '-retry-join', '10.0.0.3', '-bootstrap-expect=3']
  const outcome = loadAgentConfig(argv, { env: { CONSUL_HTTP_ADDR: '10.9.9.9:8500' }, host: HOST })
  assert.equal(outcome.kind, 'config')
  assert.ok(outcome.kind === 'config')
  assert.equal(outcome.config.datacenter, 'north')
  assert.equal(outcome.config.ports.http, 28500)
  assert.equal(outcome.config.ports.dns, 18600)
  assert.equal(outcome.config.ports.server, 8300)
  assert.deepEqual(outcome.config.retryJoin, ['10.0.0.3', '10.0.0.1', '10.0.0.2'])
  assert.equal(outcome.config.bootstrapExpect, 3)
  assert.deepEqual(outcome.warnings, [])
})

test('loadAgentConfig: flag errors, help, file errors and build errors all become exit code 2 text', (t) => {
  const dir = tempDir(t)
  assert.deepEqual(loadAgentConfig(['-nope'], { env: {}, host: HOST }), {
    kind: 'invalid', exitCode: 2, warnings: [],
    errors: [{ key: '-nope', source: 'command line', message: 'flag provided but not defined: -nope (did you mean -node?)' }]
  })
  assert.equal(loadAgentConfig(['-help'], { env: {}, host: HOST }).kind, 'help')
  const hcl = write(join(dir, 'a.hcl'), 'server = true')
  const fileOutcome = loadAgentConfig(['-config-file', hcl], { env: {}, host: HOST })
  assert.ok(fileOutcome.kind === 'invalid')
  assert.equal(fileOutcome.errors.length, 1) // stops before building: no follow-on "data_dir is required"
  const server = write(join(dir, 'server.json'), { bootstrap_expect: 'three', server: true })
  const built = loadAgentConfig(['-config-file', server, '-http-port=x'], { env: {}, host: HOST })
  assert.ok(built.kind === 'invalid')
  assert.equal(formatProblems(built.errors), [
    '==> Invalid agent configuration (3 problems):',
    `    * bootstrap_expect in ${server} must be an integer >= 0, got "three"`,
    '    * -http-port must be an integer in 1..65535, 0 for an OS-assigned port or -1 to disable, got "x"',
    '    * data_dir is required unless -dev is given: set "data_dir" in a config file or pass -data-dir DIR'
  ].join('\n'))
})

test('formatProblems: singular heading for one problem', () => {
  assert.equal(formatProblems([{ key: 'k', source: 's', message: 'm' }]), '==> Invalid agent configuration (1 problem):\n    * m')
})
