/**
 * DescribeConfigs (v0-2), AlterConfigs (v0-2), IncrementalAlterConfigs (v0-1) for topics
 * (resource type 2) and, read-only, for this broker (type 4, named by its node id or '').
 * Names and values: topic-configs.ts.
 *
 * AlterConfigs replaces a topic's whole config: configs it does not name go back to their
 * defaults (as Kafka does). IncrementalAlterConfigs changes only what it names: SET (0)
 * sets, DELETE (1) goes back to the default; APPEND (2) and SUBTRACT (3) apply to list
 * configs, which Spool has none of (INVALID_CONFIG). validate_only parses names and values
 * and changes nothing (the range checks of storage run only when a change is applied).
 * Broker settings come from flags, environment or the config file: altering them here is
 * INVALID_REQUEST.
 *
 * Authorization, as Kafka's broker: describe_configs on the topic (or on the cluster for the
 * broker), alter_configs on the topic (or the cluster) — checked first, validate_only
 * included, so a denied caller learns nothing about the topic (TOPIC_ or
 * CLUSTER_AUTHORIZATION_FAILED per resource).
 */

import { InvalidConfigError, InvalidRequestError, UnknownTopicOrPartitionError } from '../../../protocol/errors.js'
import type { RequestBody, ResponseInput } from '../../../protocol/kafka/registry.js'
import type { LogConfig } from '../../storage/config.js'
import { CLUSTER_RESOURCE } from '../../services/access.js'
import { kafkaError, type ItemOf, type KafkaContext, type KafkaRequestContext } from './context.js'
import { CONFIG_SOURCE, TOPIC_CONFIGS, brokerLogDefaults, describeBrokerConfig, describeTopicConfig, parseTopicConfig } from './topic-configs.js'

const RESOURCE_TOPIC = 2
const RESOURCE_BROKER = 4
const OP_SET = 0
const OP_DELETE = 1

type DescribedResource = ItemOf<ResponseInput<'DescribeConfigs'>['results']>

function checkBroker (ctx: KafkaContext, name: string): void {
  if (name !== '' && name !== String(ctx.nodeId)) throw new InvalidRequestError(`broker ${name} is not this broker (node ${ctx.nodeId})`)
}

export function describeConfigs (ctx: KafkaContext, req: RequestBody<'DescribeConfigs'>, rc: KafkaRequestContext): ResponseInput<'DescribeConfigs'> {
  const synonyms = rc.apiVersion >= 1 && req.includeSynonyms
  const results: DescribedResource[] = req.resources.map(r => {
    const base = { resourceType: r.resourceType, resourceName: r.resourceName }
    try {
      if (r.resourceType === RESOURCE_TOPIC) {
        ctx.topics.authorize(rc.connection.caller, 'describe_configs', r.resourceName)
        const info = ctx.topics.info(r.resourceName)
        if (info === undefined) throw new UnknownTopicOrPartitionError(`topic "${r.resourceName}" does not exist`)
        const configs = describeTopicConfig(info.config, brokerLogDefaults(ctx.config), r.configurationKeys).map(c => ({
          name: c.name, value: c.value, readOnly: false, isDefault: c.isDefault, configSource: c.source, isSensitive: false,
          synonyms: synonyms ? [{ name: c.name, value: c.value, source: c.source }] : [],
        }))
        return { errorCode: 0, errorMessage: null, ...base, configs }
      }
      if (r.resourceType === RESOURCE_BROKER) {
        ctx.access.check(rc.connection.caller, 'describe_configs', 'cluster', CLUSTER_RESOURCE)
        checkBroker(ctx, r.resourceName)
        const configs = describeBrokerConfig(ctx.config, r.configurationKeys).map(c => ({
          name: c.name, value: c.value, readOnly: true, isDefault: false, configSource: CONFIG_SOURCE.staticBroker, isSensitive: false,
          synonyms: synonyms ? [{ name: c.name, value: c.value, source: CONFIG_SOURCE.staticBroker }] : [],
        }))
        return { errorCode: 0, errorMessage: null, ...base, configs }
      }
      throw new InvalidRequestError(`resource type ${r.resourceType} is not described by Spool (2 topic, 4 broker)`)
    } catch (err) {
      return { ...kafkaError(ctx, err, 'describe configs'), ...base, configs: [] }
    }
  })
  return { results }
}

type AlterResult = ItemOf<ResponseInput<'AlterConfigs'>['responses']>

async function alterTopic (ctx: KafkaContext, rc: KafkaRequestContext, resourceType: number, name: string, validateOnly: boolean, build: (current: LogConfig, defaults: LogConfig) => Partial<LogConfig>): Promise<AlterResult> {
  const base = { resourceType, resourceName: name }
  try {
    if (resourceType === RESOURCE_BROKER) {
      ctx.access.check(rc.connection.caller, 'alter_configs', 'cluster', CLUSTER_RESOURCE)
      throw new InvalidRequestError('broker settings come from flags, environment or the config file; they cannot be altered over the Kafka protocol')
    }
    if (resourceType !== RESOURCE_TOPIC) throw new InvalidRequestError(`resource type ${resourceType} cannot be altered (2 topic)`)
    ctx.topics.authorize(rc.connection.caller, 'alter_configs', name)
    const info = ctx.topics.info(name)
    if (info === undefined || info.internal) throw new UnknownTopicOrPartitionError(`topic "${name}" does not exist`)
    const change = build(info.config, brokerLogDefaults(ctx.config))
    if (!validateOnly) await ctx.topics.alterConfig(rc.connection.caller, name, change)
    return { errorCode: 0, errorMessage: null, ...base }
  } catch (err) {
    return { ...kafkaError(ctx, err, 'alter configs'), ...base }
  }
}

export async function alterConfigs (ctx: KafkaContext, req: RequestBody<'AlterConfigs'>, rc: KafkaRequestContext): Promise<ResponseInput<'AlterConfigs'>> {
  const responses: AlterResult[] = []
  for (const r of req.resources) {
    responses.push(await alterTopic(ctx, rc, r.resourceType, r.resourceName, req.validateOnly, (_current, defaults) => {
      const given: Partial<LogConfig> = {}
      for (const c of r.configs) parseTopicConfig(c.name, c.value, given)
      const whole: Record<string, unknown> = {}
      for (const [, key] of TOPIC_CONFIGS) whole[key] = key in given ? given[key] : defaults[key]
      return whole as Partial<LogConfig>
    }))
  }
  return { responses }
}

export async function incrementalAlterConfigs (ctx: KafkaContext, req: RequestBody<'IncrementalAlterConfigs'>, rc: KafkaRequestContext): Promise<ResponseInput<'IncrementalAlterConfigs'>> {
  const responses: AlterResult[] = []
  for (const r of req.resources) {
    responses.push(await alterTopic(ctx, rc, r.resourceType, r.resourceName, req.validateOnly, (_current, defaults) => {
      const change: Partial<LogConfig> = {}
      for (const c of r.configs) {
        if (c.configOperation === OP_SET) {
          parseTopicConfig(c.name, c.value, change)
        } else if (c.configOperation === OP_DELETE) {
          const key = TOPIC_CONFIGS.find(([n]) => n === c.name)?.[1]
          if (key === undefined) parseTopicConfig(c.name, null, change) // names the unsupported config
          else (change as Record<string, unknown>)[key] = defaults[key]
        } else {
          throw new InvalidConfigError(`operation ${c.configOperation} on ${c.name}: APPEND and SUBTRACT apply to list configs, and Spool's topic configs are not lists`)
        }
      }
      return change
    }))
  }
  return { responses }
}
