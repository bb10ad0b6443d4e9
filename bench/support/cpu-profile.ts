/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per area
 * (a weft source folder, an npm package, Node internals, GC), as shares of the busy (non-idle)
 * time. Used by `BENCH_PROFILE=1 npm run bench:kv`.
 */
import { readFile } from 'node:fs/promises'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface SelfTime { readonly name: string, readonly ms: number, readonly share: number }

export interface ProfileSummary {
  readonly totalMs: number
  readonly idleMs: number
  readonly busyMs: number
  readonly functions: SelfTime[]
  readonly areas: SelfTime[]
}

function shortUrl (url: string): string {
  const modules = url.lastIndexOf('node_modules/')
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length)
  const dist = url.lastIndexOf('/dist/')
  if (dist >= 0) return url.slice(dist + '/dist/'.length)
  return url.replace(/^file:\/\//, '')
}

/** Where a frame's code lives: "(garbage collector)", "node internals", "npm fastify", "weft src/raft". */
export function areaOf (frame: CallFrame): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)'
  if (frame.url.startsWith('node:')) return 'node internals'
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url)
  if (modules !== null) return `npm ${modules[1]!}`
  const weft = /\/dist\/((?:src|cmd)\/[^/]+)/.exec(frame.url)
  if (weft !== null) return `weft ${weft[1]!.replace(/\.js$/, '')}`
  return shortUrl(frame.url)
}

function frameName (frame: CallFrame): string {
  const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName
  return frame.url === '' ? fn : `${fn} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
}

function ranked (totals: Map<string, number>, busyMs: number, limit: number): SelfTime[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), share: busyMs > 0 ? ms / busyMs : 0 }))
}

export interface SummaryOptions {
  readonly limit?: number
  /** Count only samples inside this window of the monotonic clock (µs), e.g. the measured load. */
  readonly window?: { readonly startUs: number, readonly endUs: number }
}

export async function summarizeProfile (file: string, options: SummaryOptions = {}): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
  const limit = options.limit ?? 25
  const byId = new Map(profile.nodes.map(node => [node.id, node]))
  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  let idleMs = 0
  let totalMs = 0
  let atUs = profile.startTime
  for (let i = 0; i < profile.samples.length; i += 1) {
    atUs += profile.timeDeltas[i] ?? 0
    if (options.window !== undefined && (atUs < options.window.startUs || atUs > options.window.endUs)) continue
    const node = byId.get(profile.samples[i]!)
    const ms = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000
    totalMs += ms
    if (node === undefined) continue
    if (node.callFrame.functionName === '(idle)') { idleMs += ms; continue }
    const name = frameName(node.callFrame)
    functions.set(name, (functions.get(name) ?? 0) + ms)
    const area = areaOf(node.callFrame)
    areas.set(area, (areas.get(area) ?? 0) + ms)
  }
  const busyMs = totalMs - idleMs
  return { totalMs: Math.round(totalMs), idleMs: Math.round(idleMs), busyMs: Math.round(busyMs), functions: ranked(functions, busyMs, limit), areas: ranked(areas, busyMs, limit) }
}

export function formatSummary (summary: ProfileSummary): string {
  const pct = (share: number): string => `${(share * 100).toFixed(1).padStart(5)}%`
  const lines = [
    `profile: ${summary.totalMs} ms sampled, ${summary.busyMs} ms busy (${pct(summary.busyMs / Math.max(1, summary.totalMs))} of wall time), ${summary.idleMs} ms idle`,
    '', 'self time by area (share of busy time):',
    ...summary.areas.map(a => `  ${pct(a.share)} ${String(a.ms).padStart(7)} ms  ${a.name}`),
    '', 'top functions by self time (share of busy time):',
    ...summary.functions.map(f => `  ${pct(f.share)} ${String(f.ms).padStart(7)} ms  ${f.name}`)
  ]
  return lines.join('\n')
}
