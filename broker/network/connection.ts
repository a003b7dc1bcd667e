/**
 * One client connection of any protocol, over any ByteChannel. The connection owns what
 * every protocol needs the same way; the protocol front-end (a ProtocolSession, created by
 * its WireProtocol when the connection is accepted) owns the meaning of the frames.
 *
 * Owned here:
 * - Framing memory: a FrameAssembler with the protocol's header reader, drawing partial
 *   frames from the broker-wide ByteBudget; while the budget is spent the connection stops
 *   reading and waits for room (network/budget.ts).
 * - Byte metering (per connection and per protocol) and who is on the other end: the Peer,
 *   the Principal (anonymous until an authenticator sets one), the client id.
 * - Output limits: reading pauses while more than `pauseAtQueuedBytes` wait to be written
 *   (a slow reader is throttled first); past `maxQueuedBytes`, protocols that may drop a
 *   connection (native, Kafka) close it with SLOW_READER — once, however many responses were
 *   waiting.
 * - Idle: no activity (`touch`) for `idleTimeoutMs` closes with IDLE_TIMEOUT, unless the
 *   session says it is busy. MQTT sets its keep-alive here after CONNECT.
 * - Credential expiry: a principal authenticated with an expiring credential (a token)
 *   closes the connection with TOKEN_EXPIRED once it runs out — checked by the registry's
 *   idle sweep (once a second), so it costs no timer per connection.
 * - Pauses by reason (backpressure, budget, throttle): reading resumes when no reason is left.
 * - Activity (network/activity.ts): requests, fetches, produces, records and bytes per topic,
 *   fetch positions — counted by the protocols and services, read by the stats sampler.
 * - Quotas: `charge(kind, amount)` asks the broker's QuotaPolicy (broker/quotas/) how long
 *   this connection must wait for what it just did; `throttle(ms)` then stops reading its
 *   socket for that long (pause 'throttle'), and request/response protocols hold the
 *   requests that arrive meanwhile (network/request-pipeline.ts). Nothing is dropped and
 *   the connection stays open; `throttleRemainingMs` is what a response reports.
 * - The failure rule, the same for every protocol: bad input (a typed SpoolError from the
 *   framing or the session) closes the connection with one warning line naming the error and
 *   a bounded snippet; an unexpected exception while handling the connection's input closes
 *   it with one error line (error, protocol, client, peer). Both are counted in
 *   `spool_connection_errors_total{protocol,reason}`. The session gets a last word
 *   (`farewell`) when its protocol can tell the peer why. Nothing a client sends can end the
 *   broker process.
 *
 * Memory: an idle connection holds only what it uses — its abort signal, its child logger
 * and the set of pause reasons are created the first time they are needed (thousands of
 * idle device connections use none of them).
 */

import { setMaxListeners } from 'node:events'
import type { Logger } from 'pino'
import { FrameAssembler, type FrameSizeReader } from '../../protocol/bytes/frame-assembler.js'
import { IdleTimeoutError, SlowReaderError, SpoolError, TokenExpiredError, UnknownServerError } from '../../protocol/errors.js'
import { ANONYMOUS, type Caller, type Principal, type ProtocolName } from '../security/principal.js'
import { ConnectionActivity } from './activity.js'
import type { ByteBudget } from './budget.js'
import type { ByteChannel, ChannelSink, Peer, TransportName } from './channel.js'

/** What a protocol front-end does with one connection. */
export interface ProtocolSession {
  /** Reads this protocol's frame header (with its size bound) for the assembler. */
  readonly frameSize: FrameSizeReader
  /** Reads the first frame's header instead of `frameSize`, when the first frame must be of one kind. */
  readonly firstFrameSize?: FrameSizeReader
  /** The longest header `frameSize` may need. */
  readonly maxHeaderBytes: number
  /** One whole frame (a view, valid while the session keeps it). False: stop reading this chunk. */
  onFrame (frame: Uint8Array): boolean
  /** After the frames of one read (MQTT appends what the read staged). */
  onReadEnd? (): void
  /** Written output was taken by the peer. */
  onDrain? (): void
  /** True while work for the peer is outstanding (an idle check then waits). */
  busy? (): boolean
  /** Last words to the peer before the connection closes for `err`, if the protocol has any. */
  farewell? (err: SpoolError): void
  /** The connection is closed, whatever closed it: release what the session holds. */
  onClose (): void
}

/** A protocol front-end: how accepted channels of its listener become sessions. */
export interface WireProtocol {
  readonly name: ProtocolName
  /** Output policy and idle timeout for this protocol's connections. */
  readonly limits: ConnectionLimits
  /** Creates the session of a new connection. */
  open (connection: Connection): ProtocolSession
  /** Tells a channel refused at accept why (native: a notice frame; MQTT: nothing), then the channel is ended. */
  refuse (channel: ByteChannel, err: SpoolError): void
}

export interface ConnectionLimits {
  /** Past this many queued output bytes the connection is closed with SLOW_READER (null: never). */
  readonly maxQueuedBytes: number | null
  /** Reading pauses while more than this waits to be written. */
  readonly pauseAtQueuedBytes: number
  /** No activity for this long closes the connection (0: never; the session may change it). */
  readonly idleTimeoutMs: number
}

/** Counters a connection adds to, shared by every connection of one protocol. */
export interface ProtocolCounters {
  receivedBytes: number
  sentBytes: number
  /** Connections refused or closed for a reason, by reason (error code). */
  readonly errors: Map<string, number>
}

export type PauseReason = 'backpressure' | 'budget' | 'throttle' | 'session'

/** What a quota limits: produced bytes, fetched bytes, requests. */
export type QuotaKind = 'produce' | 'fetch' | 'request'

/** Who a quota is looked up by (a Connection is one). */
export interface QuotaSubject {
  readonly clientId: string
  readonly principal: Principal
  readonly group: string | null
}

/**
 * The broker's quotas as the network sees them (broker/quotas/ implements it): `charge`
 * records `amount` (bytes, or 1 request) for the subject and returns how long (ms) the
 * subject must wait before it is served again; 0 when it is within its quotas.
 */
export interface QuotaPolicy {
  charge (subject: QuotaSubject, kind: QuotaKind, amount: number): number
}

export interface ConnectionOptions {
  id: number
  channel: ByteChannel
  protocol: WireProtocol
  budget: ByteBudget | null
  counters: ProtocolCounters
  logger: Logger
  now: () => number
  onClose: (connection: Connection) => void
  /** The broker's quotas (null: none). */
  quotas?: QuotaPolicy | null
}

const SNIPPET_BYTES = 32

/** Pause reasons as bits (an idle connection holds one number, not a Set). */
const PAUSE_BITS: Record<PauseReason, number> = { backpressure: 1, budget: 2, throttle: 4, session: 8 }
const PAUSE_REASONS = Object.keys(PAUSE_BITS) as PauseReason[]

export class Connection implements ChannelSink {
  readonly id: number
  readonly protocol: ProtocolName
  readonly transport: TransportName
  readonly peer: Peer
  readonly connectedAtMs: number
  readonly now: () => number
  clientId = ''
  /** The consumer group this connection works for, if any (the console, `spool top`). */
  group: string | null = null
  bytesIn = 0
  bytesOut = 0
  /** Requests, records, bytes per topic, fetch positions, throttling (network/activity.ts). */
  readonly activity = new ConnectionActivity()
  lastActiveMs: number
  idleTimeoutMs: number
  readonly #channel: ByteChannel
  readonly #limits: ConnectionLimits
  readonly #counters: ProtocolCounters
  readonly #budget: ByteBudget | null
  readonly #onClose: (c: Connection) => void
  readonly #parentLogger: Logger
  #logger: Logger | null = null
  #abort: AbortController | null = null
  #pauses = 0
  #assembler: FrameAssembler | null = null
  #session: ProtocolSession | null = null
  #principal: Principal = ANONYMOUS
  #authExpiresAtMs: number | null = null
  #caller: Caller | null = null
  #closed = false
  /** close() is giving the session its last word: the output limits no longer apply. */
  #closing = false
  #cancelBudgetWait: (() => void) | null = null
  readonly #quotas: QuotaPolicy | null
  #throttledUntilMs = 0
  #throttleTimer: NodeJS.Timeout | null = null
  #unthrottled: Array<() => void> = []

  constructor (options: ConnectionOptions) {
    this.id = options.id
    this.#channel = options.channel
    this.protocol = options.protocol.name
    this.transport = options.channel.transport
    this.peer = options.channel.peer
    this.#limits = options.protocol.limits
    this.idleTimeoutMs = this.#limits.idleTimeoutMs
    this.#counters = options.counters
    this.#budget = options.budget
    this.#onClose = options.onClose
    this.#quotas = options.quotas ?? null
    this.now = options.now
    this.#parentLogger = options.logger
    this.connectedAtMs = this.lastActiveMs = this.now()
    this.#channel.attach(this)
  }

  /** Starts the protocol's session (after the registry admitted the connection). */
  start (protocol: WireProtocol): void {
    try {
      const session = protocol.open(this)
      this.#session = session
      this.#assembler = new FrameAssembler(session.frameSize, session.maxHeaderBytes, this.#budget, session.firstFrameSize ?? null)
    } catch (err) {
      this.internalError(err)
    }
  }

  get closed (): boolean { return this.#closed }

  /** This connection's logger (conn, protocol, transport and peer on every line). */
  get logger (): Logger {
    this.#logger ??= this.#parentLogger.child({ conn: this.id, protocol: this.protocol, transport: this.transport, peer: this.peer.address })
    return this.#logger
  }

  /** Aborted when the connection closes (long polls stop waiting). */
  get signal (): AbortSignal {
    if (this.#abort === null) {
      this.#abort = new AbortController()
      // Every long-polling request of the connection listens for the close.
      setMaxListeners(0, this.#abort.signal)
      if (this.#closed) this.#abort.abort(new SpoolError('connection closed'))
    }
    return this.#abort.signal
  }
  get queuedBytes (): number { return this.#channel.queuedBytes }
  get principal (): Principal { return this.#principal }

  /** Who calls the services on this connection's behalf. */
  get caller (): Caller {
    this.#caller ??= { principal: this.#principal, clientId: this.clientId, host: this.peer.host, protocol: this.protocol }
    return this.#caller
  }

  /** An authenticator proved who the peer is; `expiresAtMs`: when its credential (a token) runs out. */
  authenticated (principal: Principal, expiresAtMs: number | null = null): void {
    this.#principal = principal
    this.#authExpiresAtMs = expiresAtMs
    this.#caller = null
  }

  /** True once an authenticator set a principal. */
  get isAuthenticated (): boolean { return this.#principal !== ANONYMOUS }

  /** When the connection's credential runs out (null: it does not). */
  get authExpiresAtMs (): number | null { return this.#authExpiresAtMs }

  setClientId (clientId: string): void {
    if (clientId === this.clientId) return
    this.clientId = clientId
    this.#caller = null
  }

  /** Activity (a whole request or packet): the idle clock starts again. */
  touch (): void {
    this.lastActiveMs = this.now()
  }

  /** Writes one frame given as parts (never joined), counting the bytes. */
  write (parts: readonly Uint8Array[]): void {
    if (this.#closed) return
    let size = 0
    for (const p of parts) size += p.length
    this.#channel.write(parts)
    this.bytesOut += size
    this.#counters.sentBytes += size
    // The farewell goes out behind whatever is queued; checking the limits again here would
    // close the connection from inside its own close.
    if (this.#closing) return
    const queued = this.#channel.queuedBytes
    if (this.#limits.maxQueuedBytes !== null && queued > this.#limits.maxQueuedBytes) {
      this.slowReader(new SlowReaderError(`${queued} response bytes queued, over maxQueuedBytes ${this.#limits.maxQueuedBytes}`))
      return
    }
    if (queued > this.#limits.pauseAtQueuedBytes) this.pause('backpressure')
  }

  pause (reason: PauseReason): void {
    const bit = PAUSE_BITS[reason]
    if (this.#closed || (this.#pauses & bit) !== 0) return
    const was = this.#pauses
    this.#pauses |= bit
    if (was === 0) this.#channel.pause()
  }

  resume (reason: PauseReason): void {
    const bit = PAUSE_BITS[reason]
    if ((this.#pauses & bit) === 0) return
    this.#pauses &= ~bit
    if (this.#closed) return
    if (this.#pauses === 0) this.#channel.resume()
  }

  /** The reasons reading is paused for (a new set each call). */
  get paused (): ReadonlySet<PauseReason> {
    return new Set(PAUSE_REASONS.filter(r => (this.#pauses & PAUSE_BITS[r]) !== 0))
  }

  /**
   * Charges what the connection just did (bytes produced or fetched, or one request) to its
   * quotas; when over one, throttles it. Returns the throttle time left (ms) — what a
   * response reports to the client — 0 when the connection is not throttled.
   */
  charge (kind: QuotaKind, amount: number): number {
    if (this.#quotas !== null && !this.#closed) {
      const ms = this.#quotas.charge(this, kind, amount)
      if (ms > 0) this.throttle(ms)
    }
    return this.throttleRemainingMs
  }

  /** Milliseconds the connection is still throttled for (0: not throttled). */
  get throttleRemainingMs (): number {
    if (this.#throttledUntilMs === 0) return 0
    const left = this.#throttledUntilMs - this.now()
    return left > 0 ? Math.ceil(left) : 0
  }

  /**
   * Makes the connection wait `ms` (from now, or longer if it already waits longer): its
   * socket is not read meanwhile, and `whenUnthrottled` callbacks run when the time is up.
   * Output is not held: what was answered is still written.
   */
  throttle (ms: number): void {
    if (this.#closed || !(ms > 0)) return
    const now = this.now()
    const until = now + ms
    if (until <= this.#throttledUntilMs) return
    this.activity.throttles++
    this.activity.throttledMs += until - Math.max(now, this.#throttledUntilMs)
    this.#throttledUntilMs = until
    this.pause('throttle')
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer)
    this.#throttleTimer = setTimeout(() => this.#throttleEnded(), Math.ceil(ms))
  }

  /** Runs `fn` once the connection is no longer throttled (at once if it is not). */
  whenUnthrottled (fn: () => void): void {
    if (this.#closed) return
    if (this.#throttledUntilMs === 0) this.run(fn)
    else this.#unthrottled.push(fn)
  }

  #throttleEnded (): void {
    this.#throttleTimer = null
    if (this.#closed) return
    this.#throttledUntilMs = 0
    this.resume('throttle')
    const waiting = this.#unthrottled
    this.#unthrottled = []
    for (const fn of waiting) this.run(fn)
  }

  /** A fetch of this connection asks for a partition from `fetchOffset` (services/fetch.ts FetchMeter). */
  fetchPosition (topic: string, partition: number, fetchOffset: number, logEnd: number): void {
    this.activity.position(topic, partition, fetchOffset, logEnd, this.now())
  }

  /** Records of one topic in a fetch answer for this connection. */
  fetchedPartition (topic: string, bytes: number, records: number): void {
    this.activity.fetched(topic, bytes, records)
  }

  /** A fetch answered with `bytes` of records: counted, charged to the fetch quota; returns the throttle time to report. */
  fetchedRequest (bytes: number): number {
    this.activity.fetches++
    return this.charge('fetch', bytes)
  }

  /** Records appended to a topic for this connection. */
  producedPartition (topic: string, bytes: number, records: number): void {
    this.activity.produced(topic, bytes, records)
  }

  /** A produce of `bytes` of records handled: counted, charged to the produce quota; returns the throttle time to report. */
  producedRequest (bytes: number): number {
    this.activity.produces++
    return this.charge('produce', bytes)
  }

  /**
   * Runs `fn` under the failure rule: a typed error closes the connection as bad input, any
   * other exception as an internal error. For protocol code that runs outside `onFrame`
   * (timers, promise callbacks).
   */
  run (fn: () => void): void {
    if (this.#closed) return
    try {
      fn()
    } catch (err) {
      this.#inputFailed(err, null)
    }
  }

  /** The failure rule for a promise the session started. */
  guard (promise: Promise<unknown>): void {
    promise.catch((err: unknown) => { if (!this.#closed) this.#inputFailed(err, null) })
  }

  /** Bad input: one bounded warning line, the session's last word, close. Only this connection is affected. */
  fail (err: SpoolError, bytes: Uint8Array | null = null): void {
    if (this.#closed) return
    const snippet = bytes === null ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, SNIPPET_BYTES)).toString('hex')
    this.logger.warn({ code: err.code, reason: err.message.slice(0, 200), clientId: this.clientId || undefined, snippet }, 'closing connection after bad input')
    this.#countError(err.code)
    this.close(err)
  }

  /** An unexpected exception while serving this connection: one error line, close. */
  internalError (err: unknown): void {
    if (this.#closed) return
    this.logger.error({ err, clientId: this.clientId || undefined }, 'closing connection after an internal error')
    this.#countError('INTERNAL_ERROR')
    this.close(new UnknownServerError('the broker hit an unexpected error serving this connection', { cause: err }))
  }

  /** The peer does not read what it asked for: closed once, with the notice behind the queued bytes. */
  slowReader (err: SlowReaderError): void {
    if (this.#closed) return
    this.logger.warn({ code: err.code, queuedBytes: this.#channel.queuedBytes }, 'closing a connection that does not read')
    this.#countError(err.code)
    this.close(err)
  }

  /** Closes if idle past its timeout or past its credential's expiry; the registry's sweep calls this. */
  checkIdle (nowMs: number): void {
    if (this.#closed) return
    if (this.#authExpiresAtMs !== null && nowMs >= this.#authExpiresAtMs) {
      this.logger.info({ principal: `${this.#principal.type}:${this.#principal.name}` }, 'closing a connection whose token expired')
      this.#countError('TOKEN_EXPIRED')
      this.close(new TokenExpiredError(`the token of this connection expired at ${new Date(this.#authExpiresAtMs).toISOString()}: authenticate again with a fresh one`))
      return
    }
    if (this.idleTimeoutMs <= 0 || nowMs - this.lastActiveMs <= this.idleTimeoutMs) return
    // The broker itself holds this connection's reading (admission in a reconnect storm, the
    // frame budget, a quota throttle, a CONNECT being handled): whatever the peer sent waits
    // for the broker, so the idle clock stands still until reading resumes. (Waiting for the
    // peer to read, 'backpressure', is the peer's doing and counts.)
    if ((this.#pauses & ~PAUSE_BITS.backpressure) !== 0) {
      this.lastActiveMs = nowMs
      return
    }
    if (this.#session?.busy?.() === true) return
    this.logger.info({ idleMs: nowMs - this.lastActiveMs }, 'closing idle connection')
    this.#countError('IDLE_TIMEOUT')
    this.close(new IdleTimeoutError(`no activity for ${this.idleTimeoutMs} ms`))
  }

  /**
   * Ends the connection: the session's last word for `err` (if any), then what is queued is
   * flushed and the channel closed (destroyed after a grace period if the peer never reads).
   */
  close (err: SpoolError | null = null): void {
    if (this.#closed || this.#closing) return
    this.#closing = true
    if (err !== null && this.#session?.farewell !== undefined) {
      try {
        this.#session.farewell(err)
      } catch (e) {
        this.logger.error({ err: e }, 'farewell failed')
      }
    }
    this.#closed = true
    this.#abort?.abort(err ?? new SpoolError('connection closed'))
    this.#channel.end()
    this.#cleanup()
  }

  /** Closes now, dropping what is queued. */
  destroy (): void {
    if (!this.#closed) {
      this.#closed = true
      this.#abort?.abort(new SpoolError('connection destroyed'))
      this.#cleanup()
    }
    this.#channel.destroy()
  }

  /** The channel read bytes (ChannelSink). */
  channelData (chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return
    this.bytesIn += chunk.length
    this.#counters.receivedBytes += chunk.length
    const assembler = this.#assembler
    if (assembler === null) return
    try {
      const r = assembler.push(chunk, this.#sink)
      if (r === 'blocked') this.#waitForBudget()
      if (!this.#closed) this.#session!.onReadEnd?.()
    } catch (err) {
      this.#inputFailed(err, chunk)
    }
  }

  readonly #sink = (frame: Uint8Array): boolean => {
    if (this.#closed) return false
    return this.#session!.onFrame(frame) && !this.#closed
  }

  #inputFailed (err: unknown, bytes: Uint8Array | null): void {
    if (err instanceof SpoolError && !(err instanceof UnknownServerError)) this.fail(err, bytes)
    else this.internalError(err)
  }

  #waitForBudget (): void {
    if (this.#cancelBudgetWait !== null || this.#budget === null) return
    this.pause('budget')
    this.#cancelBudgetWait = this.#budget.whenAvailable(() => {
      this.#cancelBudgetWait = null
      if (this.#closed) return
      this.run(() => {
        const r = this.#assembler!.resume(this.#sink)
        if (r === 'blocked') {
          this.#waitForBudget()
          return
        }
        this.resume('budget')
        if (!this.#closed) this.#session!.onReadEnd?.()
      })
    })
  }

  /** The channel's queue was written out (ChannelSink). */
  channelDrain (): void {
    if (this.#closed) return
    this.resume('backpressure')
    if (this.#session?.onDrain !== undefined) this.run(() => this.#session!.onDrain!())
  }

  /** The channel closed, by the peer or after end()/destroy() (ChannelSink). */
  channelClosed (): void {
    if (!this.#closed) {
      this.#closed = true
      this.#abort?.abort(new SpoolError('connection closed by peer'))
      this.#cleanup()
    }
    // Only when debug lines are wanted: the child logger is not created for nothing.
    if (this.#parentLogger.isLevelEnabled('debug')) this.logger.debug({ bytesIn: this.bytesIn, bytesOut: this.bytesOut }, 'connection closed')
  }

  #countError (reason: string): void {
    this.#counters.errors.set(reason, (this.#counters.errors.get(reason) ?? 0) + 1)
  }

  #cleanup (): void {
    if (this.#throttleTimer !== null) clearTimeout(this.#throttleTimer)
    this.#throttleTimer = null
    this.#unthrottled = []
    this.#cancelBudgetWait?.()
    this.#cancelBudgetWait = null
    this.#assembler?.dispose()
    try {
      this.#session?.onClose()
    } catch (err) {
      this.logger.error({ err }, 'session cleanup failed')
    }
    this.#onClose(this)
  }
}
