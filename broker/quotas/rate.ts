/**
 * A windowed rate, measured the way Kafka measures quota usage (its sampled `Rate` stat):
 * `samples` windows of `windowMs` each; a value is added to the current window, a new
 * window starts once the current one is `windowMs` old, and windows older than
 * samples × windowMs count for nothing. The rate is the sum of the live windows divided by
 * the time they span — never less than (samples − 1) whole windows plus the current one's
 * elapsed part, so a client that just connected is measured over the full window and a
 * first burst is averaged rather than throttled at once.
 *
 * With Kafka's defaults (11 windows of 1 s: quota.window.num, quota.window.size.seconds) a
 * rate is measured over the last 10 to 11 seconds.
 *
 * The throttle time for a rate over its limit is Kafka's: how long the client must stay
 * silent for the measured rate to come back to the limit,
 *
 *     throttleMs = (observed − limit) / limit × windowMs(now)
 *
 * (capped by the caller).
 */

interface Sample {
  startMs: number
  value: number
}

export class WindowedRate {
  readonly samples: number
  readonly windowMs: number
  readonly #samples: Sample[] = []
  #current = 0

  constructor (samples: number, windowMs: number) {
    if (!Number.isInteger(samples) || samples < 2) throw new RangeError(`a rate needs at least 2 samples, got ${samples}`)
    if (!(windowMs > 0)) throw new RangeError(`a rate window must be positive, got ${windowMs}`)
    this.samples = samples
    this.windowMs = windowMs
  }

  /** Adds `value` at time `nowMs`. */
  record (value: number, nowMs: number): void {
    let sample = this.#samples[this.#current]
    if (sample === undefined) {
      sample = { startMs: nowMs, value: 0 }
      this.#samples.push(sample)
    } else if (nowMs - sample.startMs >= this.windowMs) {
      this.#current = (this.#current + 1) % this.samples
      sample = this.#samples[this.#current]
      if (sample === undefined) {
        sample = { startMs: nowMs, value: 0 }
        this.#samples.push(sample)
      } else {
        sample.startMs = nowMs
        sample.value = 0
      }
    }
    sample.value += value
  }

  /** The rate per second at `nowMs`. */
  perSecond (nowMs: number): number {
    this.#purge(nowMs)
    let total = 0
    for (const s of this.#samples) total += s.value
    return total / (this.spanMs(nowMs) / 1000)
  }

  /** The time the rate is measured over at `nowMs` (at least samples − 1 whole windows). */
  spanMs (nowMs: number): number {
    this.#purge(nowMs)
    let oldest = nowMs
    for (const s of this.#samples) if (s.startMs < oldest) oldest = s.startMs
    let elapsed = nowMs - oldest
    const full = Math.floor(elapsed / this.windowMs)
    if (full < this.samples - 1) elapsed += (this.samples - 1 - full) * this.windowMs
    return elapsed
  }

  /** Windows that ended more than samples × windowMs ago count for nothing. */
  #purge (nowMs: number): void {
    const expireMs = this.samples * this.windowMs
    for (const s of this.#samples) {
      if (nowMs - s.startMs >= expireMs) {
        s.startMs = nowMs
        s.value = 0
      }
    }
  }
}

/** Kafka's throttle time for a measured rate over its limit (0 when within it). */
export function throttleTimeMs (observed: number, limit: number, spanMs: number): number {
  if (!(observed > limit) || !(limit > 0)) return 0
  return (observed - limit) / limit * spanMs
}
