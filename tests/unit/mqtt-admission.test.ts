// The MQTT admission queue's storm memory (broker/protocols/mqtt/admission.ts), which keeps a
// silent new connection's CONNECT grace during and after a reconnect storm: a burst of
// arrivals counts as a storm even when every connection is let in at its first turn, since
// the kernel's accept queue may have dropped handshakes whose CONNECT TCP sends again later.
import t from 'tap'
import { Admission, STORM_ACCEPTS_PER_SECOND } from '../../broker/protocols/mqtt/admission.js'

const nextTurn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

t.test('a few connections are not a storm; a burst is, after every one was admitted', async t => {
  const quiet = new Admission()
  let admitted = 0
  for (let i = 0; i < 10; i++) quiet.push({ admit: () => { admitted++ } })
  for (let i = 0; i < 5 && admitted < 10; i++) await nextTurn()
  t.equal(admitted, 10, 'all let in')
  t.equal(quiet.waiting, 0)
  t.equal(quiet.queuedWithin(30_000), false, 'ten arrivals are no storm')

  const storm = new Admission()
  let stormAdmitted = 0
  // Spread over turns so no turn's queue is longer than one turn admits: nothing waits.
  for (let i = 0; i < STORM_ACCEPTS_PER_SECOND; i += 8) {
    for (let k = 0; k < 8; k++) storm.push({ admit: () => { stormAdmitted++ } })
    await nextTurn()
  }
  for (let i = 0; i < 5 && storm.waiting > 0; i++) await nextTurn()
  t.equal(storm.waiting, 0, 'every one admitted')
  t.ok(stormAdmitted >= STORM_ACCEPTS_PER_SECOND, `${stormAdmitted} let in`)
  t.equal(storm.queuedWithin(30_000), true, `${STORM_ACCEPTS_PER_SECOND} arrivals within a second are a storm`)
  t.equal(storm.queuedWithin(0), false, 'remembered for a while, not for ever')
})
