/**
 * Waiting in tests, one copy each: every wait is bounded and fails with what it waited for.
 * Order tests by polling state, not by sleeping; `sleep` is for pacing load.
 */

export function sleep (ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** Waits (bounded) until `predicate` holds; throws naming `what` on timeout. */
export async function waitFor (predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

/**
 * Polls `probe` (which may be async) until it gives a value that `ok` accepts (default: not
 * null); returns that value, or throws naming `what` and the last value on timeout.
 */
export async function pollFor<T> (what: string, probe: () => T | Promise<T>, ok: (value: T) => boolean = v => v !== null, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(value)?.slice(0, 200)})`)
    await sleep(25)
  }
}
