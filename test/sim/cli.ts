/**
 * `npm run sim -- --seeds N [--from S]` runs N seeds; `--seed S` replays one (twice, checking
 * that the trace is identical). Prints a final line `sim: N seeds, V violations`.
 */
import { formatFailure, runSeed } from './run.js'

function parseArgs (argv: readonly string[]): { seeds: number[], verbose: boolean } {
  let count = 100
  let from = 1
  let single: number | null = null
  let verbose = false
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]
    const value = (): number => {
      const raw = argv[++i]
      const parsed = Number(raw)
      if (raw === undefined || !Number.isSafeInteger(parsed) || parsed < 0) {
        console.error(`sim: ${arg} needs a non-negative integer, got ${raw ?? 'nothing'}`)
        process.exit(2)
      }
      return parsed
    }
    if (arg === '--seeds') count = value()
    else if (arg === '--from') from = value()
    else if (arg === '--seed') single = value()
    else if (arg === '--random') from = Math.floor(Math.random() * 1e9)
    else if (arg === '--verbose') verbose = true
    else {
      console.error(`sim: unknown argument ${arg}; use --seeds N [--from S | --random], or --seed S`)
      process.exit(2)
    }
  }
  const seeds = single !== null ? [single] : Array.from({ length: count }, (_, i) => from + i)
  return { seeds, verbose }
}

const { seeds, verbose } = parseArgs(process.argv.slice(2))
let violations = 0
const started = Date.now()
let acknowledged = 0
for (const [i, seed] of seeds.entries()) {
  const result = runSeed(seed)
  acknowledged += result.acknowledged
  if (!result.ok) {
    violations += 1
    console.log(formatFailure(result))
  } else if (seeds.length === 1) {
    const again = runSeed(seed)
    if (again.traceDigest !== result.traceDigest) {
      violations += 1
      console.log(`seed ${seed}: non-deterministic replay (trace ${result.traceDigest} vs ${again.traceDigest})`)
    }
    if (verbose) console.log(result.traceTail.join('\n'))
    console.log(`seed ${seed}: ok, ${result.steps} steps, ${result.acknowledged} acknowledged proposals, trace ${result.traceDigest.slice(0, 16)}`)
  }
  if (seeds.length > 1 && (i + 1) % 500 === 0) {
    console.error(`sim: ${i + 1}/${seeds.length} seeds, ${violations} violations, ${((Date.now() - started) / 1000).toFixed(0)} s`)
  }
}
console.log(`sim: ${seeds.length} seeds (${seeds[0]}..${seeds[seeds.length - 1]}), ${acknowledged} acknowledged proposals, ${((Date.now() - started) / 1000).toFixed(1)} s`)
console.log(`sim: ${seeds.length} seeds, ${violations} violations`)
process.exit(violations === 0 ? 0 : 1)
