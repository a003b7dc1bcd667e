/**
 * MQTT topic names and topic filters (3.1.1 §4.7, 5.0 §4.7, §4.8.2): validation against
 * the spec and the gateway's limits, matching, and shared-subscription parsing.
 *
 * - Levels are separated by `/`; empty levels are allowed ("a//b", "/a").
 * - `#` matches any number of levels, including the parent: "a/#" matches "a" [MQTT-4.7.1-2].
 *   It must be the whole last level [MQTT-4.7.1-2].
 * - `+` matches exactly one level and must occupy a whole level [MQTT-4.7.1-3].
 * - A topic name carries no wildcard [MQTT-3.3.2-2] and is at least one character [MQTT-4.7.3-1].
 * - Names starting with `$` are not matched by a filter starting with a wildcard [MQTT-4.7.2-1].
 * - `$share/<group>/<filter>`: group is non-empty without `/`, `+`, `#` [MQTT-4.8.2-1, MQTT-4.8.2-2].
 */

export interface TopicLimits {
  /** Largest topic (or filter) in UTF-8 bytes. */
  maxTopicBytes: number
  /** Largest number of `/`-separated levels. */
  maxTopicLevels: number
}

const utf8 = new TextEncoder()

function levelsWithin (topic: string, max: number): boolean {
  let levels = 1
  for (let i = 0; i < topic.length; i++) {
    if (topic.charCodeAt(i) === 47 && ++levels > max) return false
  }
  return true
}

function bytesWithin (topic: string, max: number): boolean {
  // A UTF-16 unit is at most 3 UTF-8 bytes; only encode when the cheap bound is not enough.
  return topic.length * 3 <= max || utf8.encode(topic).length <= max
}

/**
 * Code points a receiver may treat as malformed (MQTT 5 §1.5.4, 3.1.1 §1.5.3): U+0000,
 * C0 and C1 controls, and non-characters. Mosquitto's clients and broker reject them, so a
 * topic or property carrying one must neither enter nor leave the gateway: one such message
 * would disconnect every Mosquitto-based subscriber that receives it, again on each retry.
 */
export const DISALLOWED_CODE_POINTS = /[\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]/

/** Topics clients may not publish to (nor name as a will): the broker's own and shares. */
export function reservedTopicError (topic: string): string | null {
  return topic.startsWith('$SYS') || topic.startsWith('$share/') ? 'clients cannot publish to $SYS or $share topics' : null
}

/** Why a PUBLISH topic name is invalid, or null when it is fine. */
export function topicNameError (topic: string, limits: TopicLimits): string | null {
  if (topic.length === 0) return 'empty topic name [MQTT-4.7.3-1]'
  if (DISALLOWED_CODE_POINTS.test(topic)) return 'control character or non-character in the topic name [MQTT-1.5.4]'
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in a topic name [MQTT-3.3.2-2]'
  if (!bytesWithin(topic, limits.maxTopicBytes)) return `topic longer than mqttMaxTopicLength (${limits.maxTopicBytes} bytes)`
  if (!levelsWithin(topic, limits.maxTopicLevels)) return `topic deeper than mqttMaxTopicLevels (${limits.maxTopicLevels})`
  return null
}

/** Why a topic filter (without a `$share/` prefix) is invalid, or null. */
export function topicFilterError (filter: string, limits: TopicLimits): string | null {
  if (filter.length === 0) return 'empty topic filter [MQTT-4.7.3-1]'
  if (DISALLOWED_CODE_POINTS.test(filter)) return 'control character or non-character in the topic filter [MQTT-1.5.4]'
  if (!bytesWithin(filter, limits.maxTopicBytes)) return `filter longer than mqttMaxTopicLength (${limits.maxTopicBytes} bytes)`
  if (!levelsWithin(filter, limits.maxTopicLevels)) return `filter deeper than mqttMaxTopicLevels (${limits.maxTopicLevels})`
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return '"#" must be the whole last level [MQTT-4.7.1-2]'
    if (level.includes('+') && level !== '+') return '"+" must be a whole level [MQTT-4.7.1-3]'
  }
  return null
}

export interface ParsedFilter {
  /** The filter that topics are matched against (without `$share/<group>/`). */
  filter: string
  /** The share group, or null for an ordinary subscription. */
  shareGroup: string | null
}

/** Splits `$share/<group>/<filter>`; returns an error string for a malformed share. */
export function parseSubscriptionFilter (raw: string, limits: TopicLimits): ParsedFilter | string {
  if (raw.startsWith('$share/')) {
    const slash = raw.indexOf('/', 7)
    if (slash < 0) return 'shared subscription without a filter [MQTT-4.8.2-1]'
    const group = raw.slice(7, slash)
    if (group.length === 0 || group.includes('+') || group.includes('#')) return 'invalid share name [MQTT-4.8.2-1, MQTT-4.8.2-2]'
    const filter = raw.slice(slash + 1)
    const err = topicFilterError(filter, limits)
    return err === null ? { filter, shareGroup: group } : err
  }
  const err = topicFilterError(raw, limits)
  return err === null ? { filter: raw, shareGroup: null } : err
}

/** True when `filter` matches topic name `topic` (both already validated). */
export function topicMatches (filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1]: a leading wildcard does not match a `$` topic.
  if (topic.charCodeAt(0) === 36 && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) return false
  let f = 0
  let t = 0
  const fl = filter.length
  const tl = topic.length
  while (f < fl) {
    const c = filter.charCodeAt(f)
    if (c === 35) return true // '#': the rest, including the parent level
    if (c === 43) { // '+': one whole level
      while (t < tl && topic.charCodeAt(t) !== 47) t++
      f++
    } else {
      if (t >= tl) {
        // Topic ended: "a/#" matches "a" (the filter has "/#" left).
        return f + 1 < fl && c === 47 && filter.charCodeAt(f + 1) === 35 && f + 2 === fl
      }
      if (c !== topic.charCodeAt(t)) return false
      f++
      t++
    }
  }
  return t === tl
}

/** True when the filter contains a wildcard. */
export function hasWildcard (filter: string): boolean {
  return filter.includes('+') || filter.includes('#')
}
