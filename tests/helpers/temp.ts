/** A fresh temp dir for a test, removed at teardown (the one copy every helper uses). */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestLike {
  teardown (fn: () => unknown): void
}

export function tempDir (t: TestLike, prefix = 'spool-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
