/**
 * The byte carrier under a Connection: one implementation per socket kind (node:net TCP in
 * `node-tcp.ts`, WebSocket in `websocket.ts`), the same small surface for both, so
 * everything above it (correlation, timeouts, notices, retries) is shared.
 *
 * A transport delivers whole response frames (length prefix included, as
 * `protocol/native/frame.ts` defines them): a TCP transport runs the push FrameDecoder over
 * its byte stream, a WebSocket transport hands over each binary message (one frame per
 * message, docs/architecture.md §5). It writes one request frame given as parts (header, body,
 * record batches) so the record bytes are never copied into a joined buffer on TCP.
 *
 * Concurrency: all calls happen on the event loop; `write` never blocks. Its return value
 * is the backpressure signal: false means the transport's send buffer is above its high
 * water mark, and the caller should wait for `onDrain` before writing more.
 */

/** Callbacks a transport calls; set by the Connection that owns it. */
export interface TransportHandlers {
  /** One whole response frame (a view; valid until the callback's owner drops it). */
  onFrame (frame: Uint8Array): void
  /** The send buffer went back below its high water mark after `write` returned false. */
  onDrain (): void
  /** The transport closed (by either side). `error` is set when it closed because of one. */
  onClose (error?: Error): void
}

export interface Transport {
  /** Writes one frame; false = buffer full, wait for onDrain. Never throws after close. */
  write (parts: readonly Uint8Array[]): boolean
  /** Closes the transport; onClose fires once (if it has not already). */
  close (): void
}

export interface TransportOptions {
  connectTimeoutMs: number
  /** Largest response frame accepted (checked from the length prefix before buffering). */
  maxFrameBytes: number
  /** TLS for a TCP transport (Node); WebSocket transports use wss:// URLs instead. */
  tls?: TlsClientOptions
}

/**
 * TLS options of the Node TCP transport (a subset of node:tls connect options; PEM text or
 * bytes). The broker's certificate is checked against `ca` (default: the system's CAs) and
 * the host name; `cert` + `key` present a client certificate (mTLS).
 */
export interface TlsClientOptions {
  ca?: string | Uint8Array | Array<string | Uint8Array>
  cert?: string | Uint8Array
  key?: string | Uint8Array
  passphrase?: string
  /** The name the certificate must carry when it differs from the host connected to. */
  servername?: string
  /** Default true: refuse a certificate that does not verify. */
  rejectUnauthorized?: boolean
}

/**
 * Opens a transport to `address` ("host:port" for TCP, a ws:// or wss:// URL for
 * WebSocket). Resolves once the transport is open; rejects with the underlying error
 * (for TCP a Node error with `code`, e.g. ECONNREFUSED) when it cannot be opened.
 */
export type TransportFactory = (address: string, handlers: TransportHandlers, options: TransportOptions) => Promise<Transport>
