/**
 * The terminal under `spool top`: the alternate screen (so the shell's screen comes back
 * as it was), the cursor hidden, keys read in raw mode, and frames drawn without flicker —
 * each draw writes, in one write, only the lines that changed (cursor moved to each, the
 * line written, the rest of it cleared); after a resize or `invalidate()` the whole frame.
 *
 * `stop()` puts the terminal back whatever ended the program (q, Ctrl-C in raw mode,
 * SIGINT/SIGTERM/SIGHUP, an exception): raw mode off, cursor shown, alternate screen left.
 * It runs at most once, and also on process exit as a last resort.
 */

const ESC = '\u001b['
const ENTER_ALT = `${ESC}?1049h`
const LEAVE_ALT = `${ESC}?1049l`
const HIDE_CURSOR = `${ESC}?25l`
const SHOW_CURSOR = `${ESC}?25h`
const CLEAR = `${ESC}2J`
const INVERSE = `${ESC}7m`
const RESET = `${ESC}0m`

export interface Output {
  write (text: string): boolean
  readonly columns?: number
  readonly rows?: number
  on (event: 'resize', fn: () => void): unknown
  off (event: 'resize', fn: () => void): unknown
}

export interface Input {
  readonly isTTY?: boolean
  setRawMode? (raw: boolean): unknown
  setEncoding (encoding: BufferEncoding): unknown
  on (event: 'data', fn: (chunk: string) => void): unknown
  off (event: 'data', fn: (chunk: string) => void): unknown
  resume (): unknown
  pause (): unknown
}

export class Screen {
  readonly #out: Output
  readonly #in: Input
  #previous: string[] = []
  #started = false
  #stopped = false
  #onKeys: ((chunk: string) => void) | null = null
  readonly #onResize = (): void => { this.invalidate(); this.onResize?.() }
  readonly #onExit = (): void => { this.stop() }
  onResize: (() => void) | null = null

  constructor (out: Output, input: Input) {
    this.#out = out
    this.#in = input
  }

  get width (): number { return Math.max(20, this.#out.columns ?? 80) }
  get height (): number { return Math.max(5, this.#out.rows ?? 24) }

  /** Takes over the terminal; `onKeys` gets what the keyboard sends. */
  start (onKeys: (chunk: string) => void): void {
    if (this.#started) return
    this.#started = true
    process.once('exit', this.#onExit)
    this.#out.write(ENTER_ALT + HIDE_CURSOR + CLEAR)
    this.#out.on('resize', this.#onResize)
    if (this.#in.isTTY === true && this.#in.setRawMode !== undefined) {
      this.#in.setRawMode(true)
      this.#in.setEncoding('utf8')
      this.#onKeys = onKeys
      this.#in.on('data', onKeys)
      this.#in.resume()
    }
  }

  /** The next draw writes every line. */
  invalidate (): void {
    this.#previous = []
    if (this.#started && !this.#stopped) this.#out.write(CLEAR)
  }

  /** Draws a frame: the changed lines only, in one write; `inverse` rows are shown inverted. */
  draw (lines: readonly string[], inverse: ReadonlySet<number> = new Set()): void {
    if (!this.#started || this.#stopped) return
    let buf = ''
    const height = Math.max(lines.length, this.#previous.length)
    for (let i = 0; i < height; i++) {
      const raw = lines[i] ?? ''
      const line = inverse.has(i) ? `${INVERSE}${raw.padEnd(this.width)}${RESET}` : raw
      if (this.#previous[i] === line) continue
      buf += `${ESC}${i + 1};1H${line}${ESC}K`
    }
    this.#previous = lines.map((raw, i) => inverse.has(i) ? `${INVERSE}${raw.padEnd(this.width)}${RESET}` : raw)
    if (buf !== '') this.#out.write(buf)
  }

  /** Gives the terminal back as it was. Idempotent. */
  stop (): void {
    if (!this.#started || this.#stopped) return
    this.#stopped = true
    process.off('exit', this.#onExit)
    this.#out.off('resize', this.#onResize)
    if (this.#onKeys !== null) {
      this.#in.off('data', this.#onKeys)
      this.#in.setRawMode?.(false)
      this.#in.pause()
    }
    this.#out.write(RESET + SHOW_CURSOR + LEAVE_ALT)
  }
}
