/**
 * Shared fixtures for the CA tests: a per-test temp directory, a runner for the real `openssl`
 * binary (the independent judge of every certificate we build), and small root/leaf factories.
 *
 * Called by: test/unit/ca/*.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { createRootCert, generatePrivateKeyPem, type KeySpec } from '../../../src/ca/index.js'

export const clusterId = 'd2b5f1c0-8a4e-4b2f-9c61-0e7d3a5b9f42'
export const trustDomain = `${clusterId}.consul`
export const hourMs = 3_600_000

export interface OpensslResult {
  readonly ok: boolean
  readonly stdout: string
  readonly stderr: string
}

/** A temp directory removed after the test, with helpers to write files and run openssl in it. */
export class Workdir {
  readonly path: string

  constructor (t: TestContext) {
    this.path = mkdtempSync(join(tmpdir(), 'weft-ca-'))
    t.after(() => rmSync(this.path, { recursive: true, force: true }))
  }

  write (name: string, content: string): string {
    const file = join(this.path, name)
    writeFileSync(file, content)
    return file
  }

  file (name: string): string {
    return join(this.path, name)
  }

  openssl (args: readonly string[], input?: string): OpensslResult {
    const result = spawnSync('openssl', args, { cwd: this.path, encoding: 'utf8', input: input ?? '', timeout: 30_000 })
    if (result.error !== undefined) throw result.error
    return { ok: result.status === 0, stdout: result.stdout, stderr: result.stderr }
  }

  /** Runs openssl and fails the test with its stderr when it exits non-zero. */
  opensslOk (args: readonly string[]): string {
    const result = this.openssl(args)
    if (!result.ok) throw new Error(`openssl ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`)
    return result.stdout
  }
}

export function makeRoot (o: { spec?: KeySpec, serial?: number, notBefore?: Date, ttlMs?: number, clusterId?: string } = {}): { keyPem: string, certPem: string } {
  const keyPem = generatePrivateKeyPem(o.spec ?? { type: 'ec', bits: 256 })
  const certPem = createRootCert({
    privateKeyPem: keyPem,
    clusterId: o.clusterId ?? clusterId,
    serial: o.serial ?? 1,
    notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
    ttlMs: o.ttlMs ?? 87_600 * hourMs
  })
  return { keyPem, certPem }
}

/** A whole-second Date `offsetMs` from now, so it survives the certificate encoding unchanged. */
export function wholeSeconds (offsetMs: number): Date {
  return new Date(Math.floor((Date.now() + offsetMs) / 1000) * 1000)
}
