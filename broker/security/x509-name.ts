/**
 * A certificate's subject as the string Kafka uses for TLS principals: RFC 2253 form, as
 * Java's X500Principal.getName() prints it, e.g. `CN=alice,OU=eng,O=acme,C=US`.
 *
 * - RDNs are printed most specific first, i.e. in the reverse of their order in the
 *   certificate (`openssl req -subj /C=US/O=acme/OU=eng/CN=alice` gives the string above);
 *   the attributes of a multi-valued RDN are joined with `+`.
 * - Attribute types CN, C, L, ST, O, OU, STREET, DC and UID are printed by name; any other
 *   type as its dotted OID with the value as `#` and the hex of its DER encoding (so
 *   emailAddress is `1.2.840.113549.1.9.1=#16...`), as Java does.
 * - In values, `, + " \ < > ;` are escaped with a backslash, as are a leading space or `#`
 *   and a trailing space; a NUL is `\00`.
 *
 * Read straight from the DER bytes (node's X509Certificate.subject is a display form that
 * loses multi-valued RDNs and escaping).
 */

import { TlsConfigInvalidError } from '../../protocol/errors.js'

const NAMES: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '2.5.4.9': 'STREET', '0.9.2342.19200300.100.1.25': 'DC', '0.9.2342.19200300.100.1.1': 'UID',
}

interface Tlv { tag: number, start: number, contentStart: number, end: number }

function readTlv (der: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new TlsConfigInvalidError('certificate DER is truncated')
  const tag = der[at]!
  let len = der[at + 1]!
  let p = at + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || p + n > limit) throw new TlsConfigInvalidError('certificate DER has a bad length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + der[p + i]!
    p += n
  }
  if (p + len > limit) throw new TlsConfigInvalidError('certificate DER is truncated')
  return { tag, start: at, contentStart: p, end: p + len }
}

function children (der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let p = parent.contentStart; p < parent.end;) {
    const c = readTlv(der, p, parent.end)
    out.push(c)
    p = c.end
  }
  return out
}

function oid (bytes: Uint8Array): string {
  const parts: number[] = []
  let v = 0
  for (let i = 0; i < bytes.length; i++) {
    v = v * 128 + (bytes[i]! & 0x7f)
    if ((bytes[i]! & 0x80) === 0) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80)
      else parts.push(v)
      v = 0
    }
  }
  return parts.join('.')
}

function decodeString (tag: number, b: Uint8Array): string | null {
  switch (tag) {
    case 0x0c: return new TextDecoder('utf-8').decode(b) // UTF8String
    case 0x12: case 0x13: case 0x16: case 0x1a: case 0x14: // Numeric, Printable, IA5, Visible, Teletex (as Latin-1)
      return String.fromCharCode(...b)
    case 0x1e: { // BMPString, UTF-16BE
      let s = ''
      for (let i = 0; i + 1 < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!)
      return s
    }
    case 0x1c: { // UniversalString, UTF-32BE
      let s = ''
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0)
      return s
    }
    default: return null
  }
}

function escapeValue (v: string): string {
  let out = v.replace(/[,+"\\<>;]/g, c => `\\${c}`).replace(/\0/g, '\\00')
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `
  return out
}

function hex (b: Uint8Array): string {
  return Array.from(b, x => x.toString(16).padStart(2, '0')).join('')
}

export interface NameAttribute {
  readonly type: string
  readonly oid: string
  /** As printed in the RFC 2253 string (escaped, or `#hex`). */
  readonly value: string
  /** The decoded string value, or null for a type printed as `#hex`. */
  readonly text: string | null
}

/** The subject Name of a DER certificate, as RDNs in certificate order. */
export function subjectRdns (certDer: Uint8Array): NameAttribute[][] {
  const cert = readTlv(certDer, 0, certDer.length)
  const tbs = children(certDer, cert)[0]
  if (tbs === undefined) throw new TlsConfigInvalidError('certificate DER has no TBSCertificate')
  const fields = children(certDer, tbs)
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0 // [0] EXPLICIT version
  const subject = fields[offset + 4] // serial, signature, issuer, validity, subject
  if (subject === undefined || subject.tag !== 0x30) throw new TlsConfigInvalidError('certificate DER has no subject')
  return children(certDer, subject).map(rdn => children(certDer, rdn).map(atv => {
    const [t, v] = children(certDer, atv)
    if (t === undefined || v === undefined || t.tag !== 0x06) throw new TlsConfigInvalidError('certificate subject attribute is malformed')
    const id = oid(certDer.subarray(t.contentStart, t.end))
    const name = NAMES[id]
    const text = name === undefined ? null : decodeString(v.tag, certDer.subarray(v.contentStart, v.end))
    return {
      type: name ?? id,
      oid: id,
      value: text === null ? `#${hex(certDer.subarray(v.start, v.end))}` : escapeValue(text),
      text,
    }
  }))
}

/** The RFC 2253 subject string (see the header) of a DER certificate. */
export function rfc2253Subject (certDer: Uint8Array): string {
  return subjectRdns(certDer).reverse().map(rdn => rdn.map(a => `${a.type}=${a.value}`).join('+')).join(',')
}

/** The most specific CN of the subject (unescaped), or null. */
export function subjectCommonName (certDer: Uint8Array): string | null {
  const rdns = subjectRdns(certDer)
  for (let i = rdns.length - 1; i >= 0; i--) {
    const cn = rdns[i]!.find(a => a.type === 'CN')
    if (cn?.text != null) return cn.text
  }
  return null
}
