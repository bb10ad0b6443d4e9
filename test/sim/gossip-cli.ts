/**
 * Long seeded gossip simulations from the command line (after `npm run build`):
 *
 *   node dist/test/sim/gossip-cli.js --members 200 --seed 7 --loss 0.1 --minutes 60
 *   node dist/test/sim/gossip-cli.js --swarm 20 [--from S | --random] [--minutes 10]
 *
 * The first form runs one scenario (gossip-run.ts) twice and checks that both traces are
 * identical (hidden non-determinism would make a failure unreplayable). The second runs N seeds
 * with sizes and fault rates drawn from each seed. Every result line names its seed; a failure
 * prints the replay command and the trace tail. Exit status 1 on any failure.
 */
import { formatRun, replayCommand, runGossip, swarmOptions, type GossipRunOptions, type GossipRunResult } from './gossip-run.js'

interface Parsed {
  readonly single: GossipRunOptions | null
  readonly swarm: { count: number, from: number, minutes: number } | null
  readonly verbose: boolean
}

function usage (message: string): never {
  console.error(`gossip-cli: ${message}`)
  console.error('usage: gossip-cli --seed S [--members N] [--loss P] [--minutes M] [--delay-max MS] [--pause-every S] [--no-fallback] [--verbose]')
  console.error('       gossip-cli --swarm N [--from S | --random] [--minutes M]')
  process.exit(2)
}

function parseArgs (argv: readonly string[]): Parsed {
  const values = { seed: null as number | null, members: 50, loss: 0.1, minutes: 60, delayMax: 5, pauseEvery: 300, fallback: true, swarm: null as number | null, from: 1, verbose: false }
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!
    const number = (min: number, max: number): number => {
      const raw = argv[++i]
      const parsed = Number(raw)
      if (raw === undefined || !Number.isFinite(parsed) || parsed < min || parsed > max) usage(`${arg} needs a number in ${min}..${max}, got ${raw ?? 'nothing'}`)
      return parsed
    }
    if (arg === '--seed') values.seed = Math.floor(number(0, 2 ** 32 - 1))
    else if (arg === '--members') values.members = Math.floor(number(3, 5000))
    else if (arg === '--loss') values.loss = number(0, 0.5)
    else if (arg === '--minutes') values.minutes = number(0, 24 * 60)
    else if (arg === '--delay-max') values.delayMax = Math.floor(number(1, 10_000))
    else if (arg === '--pause-every') values.pauseEvery = number(1, 86_400)
    else if (arg === '--no-fallback') values.fallback = false
    else if (arg === '--swarm') values.swarm = Math.floor(number(1, 1_000_000))
    else if (arg === '--from') values.from = Math.floor(number(0, 2 ** 32 - 1))
    else if (arg === '--random') values.from = Math.floor(Math.random() * 1e9)
    else if (arg === '--verbose') values.verbose = true
    else usage(`unknown argument ${arg}`)
  }
  if (values.swarm !== null) return { single: null, swarm: { count: values.swarm, from: values.from, minutes: values.minutes === 60 ? 10 : values.minutes }, verbose: values.verbose }
  if (values.seed === null) usage('give --seed S (one run) or --swarm N (many seeds)')
  return {
    single: {
      seed: values.seed, members: values.members, lossRate: values.loss, minutes: values.minutes, tcpFallbackProbe: values.fallback,
      delayMsMax: values.delayMax, pauseEveryMs: Math.round(values.pauseEvery * 1000)
    },
    swarm: null,
    verbose: values.verbose
  }
}

function report (result: GossipRunResult, verbose: boolean, wallMs: number): void {
  console.log(`${formatRun(result)} (${(wallMs / 1000).toFixed(1)} s wall)`)
  if (!result.ok || verbose) {
    console.log(`replay with: ${replayCommand(result.options)}`)
    console.log('--- trace tail ---')
    console.log(result.traceTail.join('\n'))
  }
}

const parsed = parseArgs(process.argv.slice(2))
let failures = 0
if (parsed.single !== null) {
  console.log(`gossip-cli: seed ${parsed.single.seed}`)
  const started = Date.now()
  const result = runGossip(parsed.single)
  report(result, parsed.verbose, Date.now() - started)
  if (!result.ok) failures += 1
  const again = runGossip(parsed.single)
  if (again.traceDigest !== result.traceDigest) {
    failures += 1
    console.log(`seed ${parsed.single.seed}: non-deterministic replay (trace ${result.traceDigest} vs ${again.traceDigest})`)
  }
} else if (parsed.swarm !== null) {
  const { count, from, minutes } = parsed.swarm
  console.log(`gossip-cli: swarm of ${count} seeds from ${from}, ${minutes} simulated minutes each`)
  for (let seed = from; seed < from + count; seed += 1) {
    const started = Date.now()
    const result = runGossip(swarmOptions(seed, minutes))
    report(result, parsed.verbose, Date.now() - started)
    if (!result.ok) failures += 1
  }
}
console.log(`gossip-cli: ${failures === 0 ? 'ok' : `${failures} failures`}`)
process.exit(failures === 0 ? 0 : 1)
