/**
 * Text layout shared by the commands, reproducing the Go libraries Consul prints with so the
 * output lines up byte for byte with Consul's:
 * - `columnize` is ryanuber/columnize with Consul's settings: cells trimmed, columns padded to
 *   the widest cell, two-space glue, the last cell of a line never padded, no final newline.
 * - `alignLabels` is text/tabwriter as `kv get -detailed` configures it (padding 6, spaces).
 * Pure functions; widths count UTF-16 code units, which matches for the ASCII tables we print.
 */

export function columnize (rows: ReadonlyArray<readonly string[]>): string {
  const trimmed = rows.map(row => row.map(cell => cell.trim()))
  const widths: number[] = []
  for (const row of trimmed) {
    row.forEach((cell, column) => {
      widths[column] = Math.max(widths[column] ?? 0, cell.length)
    })
  }
  return trimmed.map(row => row.map((cell, column) => {
    if (column === row.length - 1) return cell
    return cell.padEnd(widths[column] ?? 0) + '  '
  }).join('')).join('\n')
}

/**
 * `label<TAB>value` lines through tabwriter with minwidth 0 and padding 6: every label is
 * padded to the longest label plus six spaces. Values are bytes (a KV value need not be text).
 */
export function alignLabels (rows: ReadonlyArray<readonly [string, string | Uint8Array]>): Uint8Array {
  const width = Math.max(0, ...rows.map(([label]) => label.length)) + 6
  const parts: Uint8Array[] = []
  rows.forEach(([label, value], index) => {
    parts.push(Buffer.from(label.padEnd(width), 'utf8'))
    parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value)
    if (index < rows.length - 1) parts.push(Buffer.from('\n'))
  })
  return Buffer.concat(parts)
}

/** Go's `%q` for the plain strings we quote (addresses, IDs): JSON quoting agrees on those. */
export function goQuote (text: string): string {
  return JSON.stringify(text)
}

/** Go's `%v` of a []string: `[a b c]`. */
export function goList (items: readonly string[]): string {
  return `[${items.join(' ')}]`
}
