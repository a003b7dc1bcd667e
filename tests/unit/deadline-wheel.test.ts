// The deadline wheel of parked long polls: a waiter never ends before its deadline nor more
// than a grain after it, waiters whose deadlines fall in one grain share one timer, and a
// cancelled waiter is never called (the last one out clears the timer).
import t from 'tap'
import { performance } from 'node:perf_hooks'
import { DeadlineWheel, MAX_GRAIN_MS } from '../../broker/services/deadline-wheel.js'

function ended (wheel: DeadlineWheel, delayMs: number): Promise<number> {
  const start = performance.now()
  return new Promise(resolve => { wheel.after(delayMs, () => resolve(performance.now() - start)) })
}

t.test('a waiter ends after its deadline, at most one grain late', async t => {
  const wheel = new DeadlineWheel()
  for (const delay of [0, 5, 40, 300, 1200]) {
    const took = await ended(wheel, delay)
    const grain = Math.min(MAX_GRAIN_MS, Math.max(1, Math.floor(delay / 20)))
    // Timers may fire up to a millisecond early against performance.now(); never a grain.
    t.ok(took >= delay - 1, `${delay} ms: ended after ${took.toFixed(1)} ms`)
    // Generous for a loaded machine: the bound that matters is "not a second wait".
    t.ok(took <= delay + grain + 200, `${delay} ms: no more than a grain late (${took.toFixed(1)} ms)`)
  }
  t.equal(wheel.pending, 0, 'nothing left waiting')
})

t.test('deadlines within one grain share one timer and end together', async t => {
  let now = 1_000_001
  const wheel = new DeadlineWheel(() => now)
  const calls: number[] = []
  // A 1 s wait has a 50 ms grain: deadlines 1,001,001…1,001,041 round up to 1,001,050 and
  // 1,001,061 to 1,001,100.
  for (const extra of [0, 10, 20, 40, 60]) {
    now = 1_000_001 + extra
    wheel.after(1000, () => calls.push(extra))
  }
  t.equal(wheel.pending, 2, 'four deadlines share a bucket; the fifth is in the next')
  await new Promise(resolve => setTimeout(resolve, 1400))
  t.same(calls.sort((a, b) => a - b), [0, 10, 20, 40, 60], 'every waiter was called once')
  t.equal(wheel.pending, 0)
})

t.test('a cancelled waiter is not called; the last one out clears the timer', async t => {
  // A clock that stands still: with a 1 ms grain, two calls on the real clock may straddle
  // a millisecond and land in two buckets.
  const now = 2_000_000
  const wheel = new DeadlineWheel(() => now)
  let a = 0
  let b = 0
  const cancelA = wheel.after(30, () => { a++ })
  const cancelB = wheel.after(30, () => { b++ })
  t.equal(wheel.pending, 1)
  cancelA()
  t.equal(wheel.pending, 1, 'b still waits')
  await new Promise(resolve => setTimeout(resolve, 120))
  t.equal(a, 0, 'cancelled waiter not called')
  t.equal(b, 1, 'the other was')
  cancelB() // after it ran: a no-op
  const cancelC = wheel.after(1000, () => { a++ })
  cancelC()
  t.equal(wheel.pending, 0, 'the only waiter cancelled: no timer left')
  cancelC() // twice: a no-op
  t.equal(a, 0)
})
