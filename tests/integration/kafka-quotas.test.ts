// Client quotas over the Kafka listener: DescribeClientQuotas v0-1 and AlterClientQuotas v0-1
// with a raw client (version pinned), then @platformatic/kafka's admin — each change checked
// through the native SDK (the quotas `spool quota` shows), entities and keys mapped both
// ways (user ↔ User:<name>, client-id null ↔ the default quota, producer_byte_rate,
// consumer_byte_rate, requests_per_sec), every refusal named (combined entities, ip, the
// default user, request_percentage, fractions, filters Kafka calls invalid); a quota set
// through the Kafka api throttles a kafkajs consumer; with --auth only a user allowed to
// alter the cluster's configs may change quotas (CLUSTER_AUTHORIZATION_FAILED otherwise).
import t from 'tap'
import { Admin } from '@platformatic/kafka'
import { Client } from '../../client/index.js'
import { KafkaErrorCode } from '../../protocol/kafka/index.js'
import { startBroker } from '../helpers/broker.js'
import { KafkaRawClient } from '../helpers/kafka-raw.js'
import { fill } from '../helpers/rereader.js'
import { startSecureBroker } from '../helpers/security.js'
import { waitFor } from '../helpers/wait.js'

t.setTimeout(120_000)

async function nativeQuotas (port: number): Promise<unknown[]> {
  const client = new Client({ brokers: [`127.0.0.1:${port}`] })
  try {
    return (await client.admin().describeClientQuotas()).map(q => [q.entity.type, q.entity.name, q.limits])
  } finally {
    await client.close()
  }
}

t.test('AlterClientQuotas and DescribeClientQuotas v0-1: set, describe by filter, remove; errors per entry', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const c = await KafkaRawClient.connect(broker.ports.kafka!, 'quota-admin')
  t.teardown(() => c.close())
  for (let v = 0; v <= 1; v++) {
    const set = await c.call('AlterClientQuotas', v, {
      entries: [
        { entity: [{ entityType: 'client-id', entityName: `replayer-${v}` }], ops: [{ key: 'consumer_byte_rate', value: 1_000_000, remove: false }] },
        { entity: [{ entityType: 'user', entityName: 'alice' }], ops: [{ key: 'producer_byte_rate', value: 2_000_000, remove: false }, { key: 'requests_per_sec', value: 50, remove: false }] },
        { entity: [{ entityType: 'client-id', entityName: null }], ops: [{ key: 'consumer_byte_rate', value: 5_000_000, remove: false }] },
        { entity: [{ entityType: 'user', entityName: 'bob' }, { entityType: 'client-id', entityName: 'x' }], ops: [{ key: 'producer_byte_rate', value: 1000, remove: false }] },
        { entity: [{ entityType: 'ip', entityName: '10.0.0.1' }], ops: [{ key: 'connection_creation_rate', value: 10, remove: false }] },
        { entity: [{ entityType: 'user', entityName: null }], ops: [{ key: 'producer_byte_rate', value: 1000, remove: false }] },
        { entity: [{ entityType: 'client-id', entityName: 'pct' }], ops: [{ key: 'request_percentage', value: 25, remove: false }] },
        { entity: [{ entityType: 'client-id', entityName: 'half' }], ops: [{ key: 'producer_byte_rate', value: 1.5, remove: false }] },
      ],
      validateOnly: false,
    })
    t.same(set.entries.map(e => e.errorCode), [0, 0, 0, ...Array(5).fill(KafkaErrorCode.INVALID_REQUEST)], `v${v}: three set, five refused`)
    t.same(set.entries.map(e => e.entity.map(x => `${x.entityType}=${x.entityName}`).join('+')),
      [`client-id=replayer-${v}`, 'user=alice', 'client-id=null', 'user=bob+client-id=x', 'ip=10.0.0.1', 'user=null', 'client-id=pct', 'client-id=half'], `v${v}: each result names its entity`)
    t.match(set.entries[3]!.errorMessage, /combined quota entities \(user \+ client-id\)/, `v${v}: combined entities named`)
    t.match(set.entries[4]!.errorMessage, /entity type "ip" is not supported/)
    t.match(set.entries[5]!.errorMessage, /default user quota is not supported/)
    t.match(set.entries[6]!.errorMessage, /request_percentage .* requests_per_sec/, `v${v}: request_percentage points to requests_per_sec`)
    t.match(set.entries[7]!.errorMessage, /whole number/)

    const all = await c.call('DescribeClientQuotas', v, { components: [], strict: false })
    t.equal(all.errorCode, 0)
    const rows = (all.entries ?? []).map(e => [e.entity.map(x => `${x.entityType}=${x.entityName}`).join('+'), Object.fromEntries(e.values.map(x => [x.key, x.value]))])
    t.same(rows.find(r => r[0] === `client-id=replayer-${v}`)?.[1], { consumer_byte_rate: 1_000_000 }, `v${v}: described by its Kafka key`)
    t.same(rows.find(r => r[0] === 'user=alice')?.[1], { producer_byte_rate: 2_000_000, requests_per_sec: 50 })
    t.same(rows.find(r => r[0] === 'client-id=null')?.[1], { consumer_byte_rate: 5_000_000 }, `v${v}: the default client-id quota`)

    const names = async (components: Array<{ entityType: string, matchType: number, match: string | null }>, strict = false): Promise<string[]> => {
      const r = await c.call('DescribeClientQuotas', v, { components, strict })
      t.equal(r.errorCode, 0, `v${v}: ${JSON.stringify(components)}: ${r.errorMessage}`)
      return (r.entries ?? []).map(e => e.entity.map(x => `${x.entityType}=${x.entityName}`).join('+')).sort()
    }
    t.same(await names([{ entityType: 'client-id', matchType: 0, match: `replayer-${v}` }]), [`client-id=replayer-${v}`], `v${v}: exact`)
    t.same(await names([{ entityType: 'client-id', matchType: 1, match: null }]), ['client-id=null'], `v${v}: default`)
    t.same(await names([{ entityType: 'user', matchType: 2, match: null }]), ['user=alice'], `v${v}: any user`)
    t.same(await names([{ entityType: 'user', matchType: 2, match: null }, { entityType: 'client-id', matchType: 2, match: null }]), [], `v${v}: no combined entity`)
    t.same(await names([], true), [], `v${v}: strict with no component matches nothing`)

    for (const [components, why] of [
      [[{ entityType: 'user', matchType: 0, match: null }], /exact match of user needs a name/],
      [[{ entityType: 'user', matchType: 1, match: 'x' }], /default match of user takes no name/],
      [[{ entityType: 'user', matchType: 2, match: null }, { entityType: 'user', matchType: 2, match: null }], /names entity type user twice/],
      [[{ entityType: 'user', matchType: 7, match: null }], /match type 7/],
    ] as const) {
      const r = await c.call('DescribeClientQuotas', v, { components: [...components], strict: false })
      t.same([r.errorCode, r.entries], [KafkaErrorCode.INVALID_REQUEST, null], `v${v}: ${JSON.stringify(components)} is refused`)
      t.match(r.errorMessage, why)
    }

    const dry = await c.call('AlterClientQuotas', v, { entries: [{ entity: [{ entityType: 'client-id', entityName: 'dry' }], ops: [{ key: 'producer_byte_rate', value: 10, remove: false }] }], validateOnly: true })
    t.equal(dry.entries[0]!.errorCode, 0, `v${v}: validate_only passes`)
    const removed = await c.call('AlterClientQuotas', v, {
      entries: [
        { entity: [{ entityType: 'user', entityName: 'alice' }], ops: [{ key: 'requests_per_sec', value: 0, remove: true }] },
        { entity: [{ entityType: 'client-id', entityName: null }], ops: [{ key: 'consumer_byte_rate', value: 0, remove: true }] },
      ],
      validateOnly: false,
    })
    t.same(removed.entries.map(e => e.errorCode), [0, 0], `v${v}: removed`)
    t.same(await nativeQuotas(broker.ports.native!), [
      ['client-id', 'replayer-0', { fetchBytesPerSec: 1_000_000 }],
      ...(v === 1 ? [['client-id', 'replayer-1', { fetchBytesPerSec: 1_000_000 }]] : []),
      ['principal', 'User:alice', { produceBytesPerSec: 2_000_000 }],
    ], `v${v}: the quotas spool quota lists: nothing from validate_only or refused entries, the removed limits gone`)
  }
})

t.test('@platformatic/kafka sets and reads quotas; a consumer_byte_rate set that way throttles a kafkajs consumer', async t => {
  const broker = await startBroker(t, { mqttPort: null, quotaWindowNum: 4, quotaWindowSizeMs: 250 })
  const address = `127.0.0.1:${broker.ports.kafka}`
  const admin = new Admin({ clientId: 'platformatic-admin', bootstrapBrokers: [address] })
  t.teardown(() => admin.close())
  // The Kafka keys Spool serves, cast: the client's types list only Kafka's own.
  type Entry = Parameters<Admin['alterClientQuotas']>[0]['entries'][number]
  const entries = [
    { entities: [{ entityType: 'client-id', entityName: 'kafkajs-replayer' }], ops: [{ key: 'consumer_byte_rate', value: 64 * 1024, remove: false }] },
    { entities: [{ entityType: 'user', entityName: 'carol' }], ops: [{ key: 'producer_byte_rate', value: 10_000, remove: false }] },
  ] as unknown as Entry[]
  const altered = await admin.alterClientQuotas({ entries })
  t.same(altered.map(e => e.errorCode), [0, 0], 'alterClientQuotas (v1, flexible)')
  const described = await admin.describeClientQuotas({ components: [{ entityType: 'client-id', matchType: 0, match: 'kafkajs-replayer' }] as Parameters<Admin['describeClientQuotas']>[0]['components'] })
  t.same(described.map(e => [e.entity, e.values]), [[[{ entityType: 'client-id', entityName: 'kafkajs-replayer' }], [{ key: 'consumer_byte_rate', value: 65536 }]]], 'describeClientQuotas (v0)')
  t.same(await nativeQuotas(broker.ports.native!), [
    ['client-id', 'kafkajs-replayer', { fetchBytesPerSec: 65536 }],
    ['principal', 'User:carol', { produceBytesPerSec: 10_000 }],
  ], 'the same quotas through the native api')

  await fill(broker.ports.native!, 'kq-replay', 1, 2000, 1000)
  const { Kafka, logLevel } = await import('kafkajs')
  const kafka = new Kafka({ clientId: 'kafkajs-replayer', brokers: [address], logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: 'kq-replay' })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic: 'kq-replay', fromBeginning: true })
  let read = 0
  await consumer.run({ eachMessage: async () => { read++ } })
  const throttled = (): boolean => broker.connections.list().some(c => c.clientId === 'kafkajs-replayer' && c.activity.throttles > 0)
  await waitFor(throttled, 30_000, 'the kafkajs consumer to be throttled by the quota set through the Kafka api')
  t.ok(read < 2000, `throttled before it read 2 MB at 64 KiB/s (${read} records read)`)
})

t.test('with --auth: a user without alter_configs on the cluster is refused, a super user is not', async t => {
  const broker = await startSecureBroker(t, { users: { admin: 'admin-Secret-1', alice: 'alice-Secret-2' }, superUsers: ['User:admin'], kafkaPort: 0 })
  const address = `127.0.0.1:${broker.ports.kafka}`
  const as = (username: string, password: string): Admin => {
    const admin = new Admin({ clientId: `quota-${username}`, bootstrapBrokers: [address], sasl: { mechanism: 'SCRAM-SHA-256', username, password } })
    t.teardown(() => admin.close())
    return admin
  }
  const entries = [{ entities: [{ entityType: 'client-id', entityName: 'x' }], ops: [{ key: 'producer_byte_rate', value: 1000, remove: false }] }] as Parameters<Admin['alterClientQuotas']>[0]['entries']
  const refused = await as('alice', 'alice-Secret-2').alterClientQuotas({ entries }).then(r => r.map(e => e.errorCode), (err: unknown) => JSON.stringify(err, Object.getOwnPropertyNames(err)))
  t.match(String(refused), new RegExp(`${KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED}|CLUSTER_AUTHORIZATION_FAILED`), 'alice: CLUSTER_AUTHORIZATION_FAILED')
  const describedByAlice = await as('alice', 'alice-Secret-2').describeClientQuotas({ components: [] }).then(() => 'described', (err: unknown) => JSON.stringify(err, Object.getOwnPropertyNames(err)))
  t.match(describedByAlice, new RegExp(`${KafkaErrorCode.CLUSTER_AUTHORIZATION_FAILED}|CLUSTER_AUTHORIZATION_FAILED`), 'and may not describe them either')
  const ok = await as('admin', 'admin-Secret-1').alterClientQuotas({ entries })
  t.same(ok.map(e => e.errorCode), [0], 'the super user sets the quota')
})
