/**
 * The benchmark tools' own errors: a stable string `code` each, and the exit code the
 * runner ends with. None of them goes on the wire (protocol/errors.ts is for those).
 */

export type BenchErrorCode = 'BENCH_USAGE' | 'BENCH_BUILD' | 'BENCH_OUTPUT_MISMATCH'

export class BenchError extends Error {
  readonly code: BenchErrorCode
  /** What the runner exits with when this error ends it. */
  readonly exitCode: number

  constructor (code: BenchErrorCode, exitCode: number, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
  }
}

/** Bad arguments: an unknown option, ref or scenario, a bad number. Exit code 2. */
export class BenchUsageError extends BenchError {
  constructor (message: string, options?: ErrorOptions) {
    super('BENCH_USAGE', 2, message, options)
  }
}

/** The ref to compare with could not be unpacked, installed or compiled. Exit code 1. */
export class BenchBuildError extends BenchError {
  constructor (message: string, options?: ErrorOptions) {
    super('BENCH_BUILD', 1, message, options)
  }
}

/**
 * Two implementations of the same algorithm gave different outputs on the same input, so
 * timing them side by side would compare different work. Exit code 1.
 */
export class BenchOutputMismatchError extends BenchError {
  constructor (message: string, options?: ErrorOptions) {
    super('BENCH_OUTPUT_MISMATCH', 1, message, options)
  }
}
