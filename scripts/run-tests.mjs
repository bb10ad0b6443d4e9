#!/usr/bin/env node
// Runs the compiled test files under node's test runner. Node 20's `--test` takes no globs,
// so this finds them. Usage: node scripts/run-tests.mjs [unit|sim|e2e ...] (default: all).
// One file at a time: the end-to-end files each run several real agents, and two of them at once
// on a 2-core machine turn timing margins into flakes.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const suites = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['unit', 'sim', 'e2e']
const files = []
function walk (dir) {
  let names
  try { names = readdirSync(dir) } catch { return }
  for (const name of names.sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.test.js')) files.push(path)
  }
}
for (const suite of suites) walk(join('dist', 'test', suite))
if (files.length === 0) {
  console.error(`no test files found for ${suites.join(', ')} under dist/test (did the build run?)`)
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
