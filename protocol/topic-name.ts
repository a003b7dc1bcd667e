/**
 * The one topic-name rule, for every entry path (the topic service, the MQTT gateway's
 * mapping rules, the console's create form) and for clients that want to check a name before
 * asking: 1-249 characters from `[A-Za-z0-9._-]`, not `.` or `..` (they would be directory
 * names on disk), and names starting with `__` are the broker's own (internal topics).
 */

import { InvalidTopicError } from './errors.js'

export const TOPIC_NAME_PATTERN = /^[A-Za-z0-9._-]{1,249}$/

/**
 * Throws InvalidTopicError with the reason when `name` is not a valid topic name (`internal`:
 * the broker's own topics may start with `__`); returns the name.
 */
export function validateTopicName (name: unknown, internal = false): string {
  if (typeof name !== 'string') throw new InvalidTopicError(`topic name must be a string, got ${typeof name}`)
  if (name.length === 0) throw new InvalidTopicError('topic name is empty')
  if (name.length > 249) throw new InvalidTopicError(`topic name is ${name.length} characters, more than 249`)
  if (!TOPIC_NAME_PATTERN.test(name)) {
    const bad = [...name].find(c => !/[A-Za-z0-9._-]/.test(c))!
    throw new InvalidTopicError(`topic name ${JSON.stringify(name.slice(0, 64))} contains ${JSON.stringify(bad)}; allowed: letters, digits, '.', '_', '-'`)
  }
  if (name === '.' || name === '..') throw new InvalidTopicError(`topic name cannot be ${JSON.stringify(name)}`)
  if (name.startsWith('__') && !internal) throw new InvalidTopicError(`topic names starting with "__" are reserved for internal topics (${JSON.stringify(name)})`)
  return name
}
