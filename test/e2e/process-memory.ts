/**
 * Resident memory of agent processes for end-to-end diagnostics (Linux only): the current RSS
 * and the kernel's high-water mark (VmHWM in /proc/<pid>/status), which /proc/<pid>/clear_refs
 * resets so a test can measure the peak of one operation. Tests report these figures; they never
 * assert on them (V8 grows and collects its heap when it likes).
 *
 * Callers: snapshot-chunked.e2e.test.ts, snapshot-client.e2e.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises'

/** Resets a process's peak RSS; false where /proc does not allow it. */
export async function resetPeakRss (pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** RSS now and its peak since the last reset, in MiB. */
export async function rssMiB (pid: number): Promise<{ rss: number, peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) }
}
