/**
 * Broker addresses as users type them: `host:port`, or just `host` for the default native
 * port 7420 (as kcat and nats default theirs). IPv6 goes in brackets with a port
 * (`[::1]:7420`); bracketed or bare without one (`[::1]`, `::1`) it gets 7420 too, so a bare
 * IPv6 address can never carry a port (`::1:7420` is read as the address ::1:7420).
 */

import { InvalidArgumentError } from '../protocol/errors.js'

export const DEFAULT_NATIVE_PORT = 7420

/** `host[:port]` → `host:port` (IPv6 bracketed); InvalidArgumentError when it is neither. */
export function brokerAddress (input: string, defaultPort = DEFAULT_NATIVE_PORT): string {
  const address = input.trim()
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`broker "${input}" is not host[:port] (${why})`)
  }
  let host: string
  let port: string | undefined
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(address)
  if (bracketed !== null) {
    host = bracketed[1]!
    port = bracketed[2]
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host) || !host.includes(':')) bad('an IPv6 address goes in brackets: [::1]:7420')
  } else if ((address.match(/:/g) ?? []).length >= 2) {
    host = address // a bare IPv6 address: no port possible
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host)) bad('an IPv6 address goes in brackets: [::1]:7420')
  } else {
    const at = address.indexOf(':')
    host = at < 0 ? address : address.slice(0, at)
    port = at < 0 ? undefined : address.slice(at + 1)
    if (host === '' || /[\s/[\]@]/.test(host)) bad('no host')
  }
  if (port !== undefined) {
    const n = Number(port)
    if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535) bad(`port must be 1-65535, got "${port}"`)
  }
  const hostPart = host.includes(':') ? `[${host}]` : host
  return `${hostPart}:${port ?? defaultPort}`
}
