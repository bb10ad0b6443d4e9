/**
 * Go duration strings, as Consul's API speaks them: `?wait=1m30s`, check intervals "10s",
 * durations in responses "72h0m0s". `parseGoDurationNs` accepts exactly what Go's
 * time.ParseDuration accepts ([-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0"); `formatGoDuration`
 * produces what Go's Duration.String produces.
 *
 * Values are nanoseconds held in a JS number: exact up to 2^53 ns (about 104 days), which covers
 * every duration the API deals with; parsing still rejects values beyond Go's int64 range.
 *
 * Callers: query.ts (?wait, ?max_stale), handlers/catalog-body.ts (check definitions).
 */

const nanosecondsPerUnit: ReadonlyMap<string, number> = new Map([
  ['ns', 1],
  ['us', 1e3],
  ['\u00b5s', 1e3], // micro sign
  ['\u03bcs', 1e3], // Greek mu
  ['ms', 1e6],
  ['s', 1e9],
  ['m', 60e9],
  ['h', 3600e9]
])

/** Go's int64 nanosecond range: 2^63 - 1 ns (about 292 years). */
const durationNsMax = 9223372036854775807

/** Nanoseconds, or null when `text` is not a Go duration. */
export function parseGoDurationNs (text: string): number | null {
  let rest = text
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1
    rest = rest.slice(1)
  }
  if (rest === '0') return 0
  if (rest === '') return null
  let totalNs = 0
  while (rest !== '') {
    const match = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/.exec(rest)
    if (match === null) return null
    const whole = match[1] ?? ''
    const fraction = match[2] ?? ''
    const unitNs = nanosecondsPerUnit.get(match[3] ?? '')
    if (whole === '' && fraction === '') return null
    if (unitNs === undefined) return null
    totalNs += Number(whole === '' ? '0' : whole) * unitNs + (fraction === '' ? 0 : Number(`0.${fraction}`) * unitNs)
    if (totalNs > durationNsMax) return null
    rest = rest.slice(match[0].length)
  }
  return sign * totalNs
}

/** Go's Duration.String for an integer number of nanoseconds: "0s", "1.5ms", "1m30s", "72h0m0s". */
export function formatGoDuration (durationNs: number): string {
  const sign = durationNs < 0 ? '-' : ''
  const ns = Math.abs(Math.trunc(durationNs))
  if (ns === 0) return '0s'
  if (ns < 1e3) return `${sign}${ns}ns`
  if (ns < 1e6) return `${sign}${withFraction(ns, 3)}\u00b5s`
  if (ns < 1e9) return `${sign}${withFraction(ns, 6)}ms`
  const secondsWhole = Math.floor(ns / 1e9)
  const seconds = `${secondsWhole % 60}${fractionDigits(ns % 1e9, 9)}s`
  const minutesWhole = Math.floor(secondsWhole / 60)
  if (minutesWhole === 0) return `${sign}${seconds}`
  const hoursWhole = Math.floor(minutesWhole / 60)
  const minutes = `${minutesWhole % 60}m`
  return hoursWhole === 0 ? `${sign}${minutes}${seconds}` : `${sign}${hoursWhole}h${minutes}${seconds}`
}

function withFraction (value: number, precision: number): string {
  const scale = 10 ** precision
  return `${Math.floor(value / scale)}${fractionDigits(value % scale, precision)}`
}

/** ".5" for 500 with precision 3; "" when zero (Go omits the point). */
function fractionDigits (remainder: number, precision: number): string {
  if (remainder === 0) return ''
  return `.${String(remainder).padStart(precision, '0').replace(/0+$/, '')}`
}
