/**
 * Inter-broker TLS (`--inter-broker-tls`, docs/cluster.md "Security"): every peer connection
 * (replica fetch, OffsetForLeaderEpoch, forwarded appends) goes to the peer's native TLS
 * listener (its registered `nativeTls` address) instead of the plain one, checks the peer's
 * certificate against `interBrokerCaFile` (default `tlsCaFile`, else Node's system CAs) and
 * the address it was registered under (an IP address must be in the certificate's IP SANs),
 * and presents this broker's own `tlsCertFile` — so a cluster whose TLS listeners require
 * client certificates (`--tls-client-auth required`) works too.
 *
 * The files are read when the broker starts (one that cannot be read is an
 * InvalidConfigError naming its flag) and again for every new peer connection, so rotated
 * certificates are used from the next connection on, as the listeners reload theirs.
 * SASL (with --auth) still runs on top: TLS protects the bytes, SCRAM names the broker.
 */

import { readFileSync } from 'node:fs'
import type { ConnectionOptions } from 'node:tls'
import { InvalidConfigError } from '../../protocol/errors.js'

export interface PeerTlsSettings {
  readonly interBrokerTls: boolean
  readonly interBrokerCaFile: string | null
  readonly tlsCaFile: string | null
  readonly tlsCertFile: string | null
  readonly tlsKeyFile: string | null
}

/** The TLS side of peer connections; `options()` reads the files again. */
export interface PeerTls {
  options (): ConnectionOptions
}

/** null when inter-broker TLS is off; InvalidConfigError when a file cannot be read. */
export function loadPeerTls (s: PeerTlsSettings): PeerTls | null {
  if (!s.interBrokerTls) return null
  const files: Array<['ca' | 'cert' | 'key', string, string]> = []
  const ca = s.interBrokerCaFile ?? s.tlsCaFile
  if (ca !== null) files.push(['ca', ca, s.interBrokerCaFile !== null ? '--inter-broker-ca-file' : '--tls-ca-file'])
  if (s.tlsCertFile !== null && s.tlsKeyFile !== null) {
    files.push(['cert', s.tlsCertFile, '--tls-cert-file'], ['key', s.tlsKeyFile, '--tls-key-file'])
  }
  const read = (): ConnectionOptions => {
    const options: ConnectionOptions = { minVersion: 'TLSv1.2' }
    for (const [key, file] of files) options[key] = readFileSync(file)
    return options
  }
  for (const [, file, flag] of files) {
    try {
      readFileSync(file)
    } catch (err) {
      throw new InvalidConfigError(`${flag} ${file}: ${(err as Error).message} (inter-broker TLS reads it)`, { cause: err })
    }
  }
  return { options: read }
}
