/**
 * Reading passwords for the CLI without putting them where they leak: never a flag value
 * (shell history, `ps`). In order: a file (`--password-file`, first line), the environment
 * (SPOOL_PASSWORD, for the client commands), a prompt without echo when stdin is a terminal,
 * or the first line of stdin when it is not (`printf '%s\n' "$PW" | spool user add alice`).
 */

import { readFileSync } from 'node:fs'
import { UsageError } from './exit-codes.js'

/** The first line of a password file (a trailing CR/LF dropped). */
export function readPasswordFile (file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read the password file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const line = text.split(/\r?\n/)[0] ?? ''
  if (line === '') throw new UsageError(`the password file ${file} is empty`)
  return line
}

/** Reads all of stdin (bounded) and returns its first line. */
async function firstLineOfStdin (what: string): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 64 * 1024) throw new UsageError(`${what}: stdin is longer than 64 KiB; give one line`)
    chunks.push(chunk)
  }
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? ''
  if (line === '') throw new UsageError(`${what}: no password on stdin (give one line, or run in a terminal to be asked)`)
  return line
}

/** Asks on the terminal without echoing what is typed. */
function prompt (question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin
    process.stderr.write(question)
    let answer = ''
    stdin.setRawMode(true)
    stdin.resume()
    stdin.setEncoding('utf8')
    const done = (err: Error | null): void => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
      if (err === null) resolve(answer)
      else reject(err)
    }
    const onData = (data: string): void => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n') return done(null)
        if (ch === '\u0003') return done(new UsageError('interrupted'))
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1)
        else answer += ch
      }
    }
    stdin.on('data', onData)
  })
}

/**
 * A new password: from `file`, else asked twice on a terminal, else stdin's first line.
 */
export async function newPassword (file: string | undefined, what: string): Promise<string> {
  if (file !== undefined) return readPasswordFile(file)
  if (process.stdin.isTTY === true) {
    const first = await prompt(`${what}: `)
    const again = await prompt(`${what} (again): `)
    if (first !== again) throw new UsageError('the two passwords differ')
    if (first === '') throw new UsageError('the password is empty')
    return first
  }
  return firstLineOfStdin(what)
}

/** A client's password: `--password-file`, else SPOOL_PASSWORD, else asked on a terminal. */
export async function clientPassword (file: string | undefined, user: string): Promise<string> {
  if (file !== undefined) return readPasswordFile(file)
  const env = process.env.SPOOL_PASSWORD
  if (env !== undefined && env !== '') return env
  if (process.stdin.isTTY === true) return prompt(`password for ${user}: `)
  throw new UsageError(`--user ${user} needs a password: --password-file <file> or the SPOOL_PASSWORD environment variable`)
}
