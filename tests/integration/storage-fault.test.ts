// Storage faults at named points (broker/storage/testing/fault-points.ts).
//
// 1. A failed write seen through the SDK (defect 5): the first batch of an idempotent
//    producer on a partition fails to be written (the write is torn half-way and undone)
//    while the next batch of that partition is ready. The broker holds no
//    state for the producer there yet and would accept the next batch out of order; the
//    producer must keep the second batch back until the first is acknowledged, so both are
//    written once, in order, and no send fails with OUT_OF_ORDER_SEQUENCE_NUMBER.
import t from 'tap'
import { Client, text } from '../../client/index.js'
import { faultPoints } from '../../broker/storage/testing/fault-points.js'
import { startBroker } from '../helpers/broker.js'
import { collect } from '../helpers/conformance.js'

/**
 * A failed write (the segment undoes the half written and wraps it in a StorageError). EIO,
 * not ENOSPC: a full disk also makes the broker read-only for every partition (see
 * disk-full.test.ts), which hides the ordering question this test asks of the producer.
 */
function ioError (): Error {
  return Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' })
}

t.test('defect 5: a failed first batch is not overtaken by the next one (idempotent SDK, real broker)', async t => {
  const broker = await startBroker(t, { mqttPort: null })
  const client = new Client({ brokers: [`127.0.0.1:${broker.ports.native}`] })
  t.teardown(() => client.close())
  t.teardown(() => faultPoints.reset())
  await client.admin().createTopics([{ topic: 'd5', partitions: 2 }])
  for (const acks of [1, 'all'] as const) {
    const producer = client.producer({ acks, lingerMs: 0, retry: { retries: 5, initialRetryTimeMs: 20, maxRetryTimeMs: 100 } })
    // Producer id and metadata first, on the other partition: partition 1 has never seen this producer.
    await producer.send({ topic: 'd5', messages: [{ value: 'warm-up', partition: 0 }] })
    const before = broker.logs.partition('d5', 1).logEndOffset
    faultPoints.arm('segment.midWrite', () => { throw ioError() }, { times: 1 })
    const first = producer.send({ topic: 'd5', messages: [{ value: `${acks}:first`, partition: 1 }] })
    // Let the first batch leave (linger 0 closes it in a microtask), then build the second.
    for (let i = 0; i < 5; i++) await null
    const second = producer.send({ topic: 'd5', messages: [{ value: `${acks}:second`, partition: 1 }] })
    const results = await Promise.allSettled([first, second])
    faultPoints.reset()
    t.equal(faultPoints.hits('segment.midWrite'), 0, 'counters were reset')
    t.same(results.map(r => r.status === 'rejected' ? `${(r.reason as Error & { code?: string }).code}: ${(r.reason as Error).message}` : 'ok'),
      ['ok', 'ok'], `acks=${acks}: both sends succeed`)
    const offsets = results.map(r => (r.status === 'fulfilled' ? r.value[0]!.offset : -1))
    t.same(offsets, [before, before + 1], `acks=${acks}: written in send order, once each`)
    const log = broker.logs.partition('d5', 1)
    t.equal(log.logEndOffset, before + 2, `acks=${acks}: nothing else was written`)
    const consumer = client.consumer({ fromBeginning: true, maxWaitMs: 50 })
    await consumer.assign({ topic: 'd5', partition: 1 })
    consumer.seek({ topic: 'd5', partition: 1, offset: before })
    const values = (await collect(consumer, log.logEndOffset - before, 10_000)).map(m => text(m.value))
    await consumer.close()
    t.same(values, [`${acks}:first`, `${acks}:second`], `acks=${acks}: the log holds both records in order`)
    await producer.close()
  }
})
