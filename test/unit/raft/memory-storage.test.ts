/**
 * MemoryStorage runs the RaftStorage compliance suite. A restart is a new handle on the same
 * in-memory state (`reopen`), which is what the simulator does when it restarts a node.
 */
import { MemoryStorage } from '../../../src/raft/memory-storage.js'
import { runStorageConformance } from './storage-conformance.js'

runStorageConformance('MemoryStorage', async () => {
  let current: MemoryStorage | null = null
  return {
    async open () {
      current = new MemoryStorage()
      return current
    },
    async reopen () {
      if (current === null) throw new Error('reopen() called before open()')
      current = current.reopen()
      return current
    },
    async cleanup () {}
  }
})
