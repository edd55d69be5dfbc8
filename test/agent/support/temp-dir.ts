/** Temporary directories for tests that need files or unix sockets; removed by the caller's hook. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDir {
  readonly path: string
  file (name: string): string
  remove (): Promise<void>
}

/** Creates a fresh directory under the OS temp dir (short path: unix socket paths are limited to ~100 bytes). */
export async function tempDir (prefix = 'ccn-agent-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return Object.freeze({
    path,
    file: (name: string) => join(path, name),
    remove: () => rm(path, { recursive: true, force: true })
  })
}
