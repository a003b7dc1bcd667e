// The web console in headless Chromium against a broker driven by the real CLI: a topic
// created with `spool topic create` appears in Topics; topics are created and deleted from
// the page; the live tail shows lines piped into `spool produce` (about a second), pauses and
// resumes, and pretty-prints JSON; a group started by `spool consume --group` shows its lag
// going to zero in Consumer groups;
// Traffic shows the produce rate and the connections sorted by egress. Screenshots of each
// screen go to tests/artifacts/.
import t, { type Test } from 'tap'
import type { Page } from 'playwright-core'
import { startBroker } from '../helpers/broker.js'
import { runCli, spawnCli } from '../helpers/client-cli.js'
import { ensureWebBuild, launchBrowser, openPage, saveScreenshot } from '../helpers/browser.js'
import type { ConsoleSdk } from '../../web/console/sdk.js'
import { pollFor } from '../helpers/wait.js'

// The console describes the SDK structurally (the broker does not import the client): the
// real browser SDK must satisfy that description, or this file does not compile.
const sdkFitsConsole: typeof import('../../client/browser.js') extends ConsoleSdk ? true : never = true
t.ok(sdkFitsConsole, 'client/browser.ts satisfies web/console/sdk.ts')

await ensureWebBuild()
const broker = await startBroker(t)
const address = `127.0.0.1:${broker.ports.native}`
const base = `http://127.0.0.1:${broker.ports.http}`
const context = await launchBrowser(t)
const { page, errors } = await openPage(context, `${base}/#/topics`)
t.teardown(() => page.close())

async function spool (t: Test, args: string[], input?: string): Promise<void> {
  const r = await runCli(t, [...args, '--broker', address], input === undefined ? {} : { input })
  if (r.code !== 0) throw new Error(`spool ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
}

/** Rows of the live tail, newest first, as [partition, offset, key, value] texts. */
function tailRows (page: Page): Promise<string[][]> {
  return page.$$eval('table.tail tbody tr', trs => trs.map(tr => [...tr.querySelectorAll('td')].slice(1, 5).map(td => td.textContent ?? '')))
}

t.test('Topics: a topic created by the CLI appears; create and delete from the page', async t => {
  await spool(t, ['topic', 'create', 'console-orders', '--partitions', '3', '--retention-ms', '3600000'])
  await page.locator('a.topic-name', { hasText: 'console-orders' }).waitFor({ timeout: 5000 })
  const row = await page.locator('table.topics tr', { has: page.locator('a.topic-name', { hasText: 'console-orders' }) }).innerText()
  t.match(row, /console-orders\s+3\s+0\s+0 B\s+1h\s+delete/, 'partitions, records, bytes, retention and policy')

  await page.fill('form.create input[name=name]', 'made-in-console')
  await page.fill('form.create input[name=partitions]', '2')
  await page.selectOption('form.create select[name=cleanupPolicy]', 'compact')
  await page.click('form.create button[type=submit]')
  await page.locator('a.topic-name', { hasText: 'made-in-console' }).waitFor({ timeout: 5000 })
  t.match(broker.logs.topic('made-in-console'), { partitions: 2, config: { cleanupPolicy: 'compact' } }, 'created on the broker')

  await page.fill('form.create input[name=name]', 'made-in-console')
  await page.click('form.create button[type=submit]')
  await page.locator('.error', { hasText: 'TOPIC_ALREADY_EXISTS' }).waitFor({ timeout: 5000 })
  t.pass('a named error is shown')

  await page.click('button[data-topic="made-in-console"]')
  await page.locator('button[data-topic="made-in-console"]', { hasText: 'Confirm delete' }).waitFor({ timeout: 5000 })
  t.ok(broker.logs.hasTopic('made-in-console'), 'one click only asks')
  await page.click('button[data-topic="made-in-console"]')
  await page.locator('a.topic-name', { hasText: 'made-in-console' }).waitFor({ state: 'detached', timeout: 5000 })
  t.notOk(broker.logs.hasTopic('made-in-console'), 'deleted on the broker')

  await page.click('a.topic-name:has-text("console-orders")')
  await page.locator('table.partitions tbody tr').nth(2).waitFor({ timeout: 5000 })
  t.equal(await page.locator('table.partitions tbody tr').count(), 3, 'one row per partition')
  await page.goto(`${base}/#/topics`)
  await page.locator('a.topic-name', { hasText: 'console-orders' }).waitFor({ timeout: 5000 })
  await saveScreenshot(page, 'console-topics')
})

t.test('Live tail: lines piped into `spool produce` show while the tail runs; pause, resume, JSON', async t => {
  await page.goto(`${base}/#/tail/console-orders`)
  await page.locator('#tail-status[data-state=running]').waitFor({ timeout: 10_000 })
  const producer = spawnCli(t, ['produce', 'console-orders', '--key-separator', ':', '--broker', address])
  const send = (line: string): void => { producer.stdin!.write(`${line}\n`) }
  send('first:hello from the CLI')
  await pollFor('the first line (process start-up included)', () => tailRows(page), rows => rows.some(r => r[3] === 'hello from the CLI'), 10_000)
  for (let i = 0; i < 3; i++) {
    const started = Date.now()
    send(`k${i}:line ${i}`)
    // About a second on a quiet machine (the tail's long poll); the bound leaves room for a
    // CI machine running two suites and Chromium at once, where 1 s was missed once.
    await pollFor(`line ${i}`, () => tailRows(page), rows => rows.some(r => r[3] === `line ${i}`), 5000)
    t.comment(`line ${i} shown in ${Date.now() - started} ms`)
  }
  const rows = await tailRows(page)
  t.same(rows[0]?.slice(2), ['k2', 'line 2'], 'newest first, with its key')

  await page.click('button[name=pause]')
  await page.locator('#tail-status[data-state=paused]').waitFor({ timeout: 5000 })
  send('k:while paused')
  await new Promise(resolve => setTimeout(resolve, 800))
  t.notOk((await tailRows(page)).some(r => r[3] === 'while paused'), 'nothing shows while paused')
  await page.click('button[name=pause]')
  await pollFor('the record sent while paused', () => tailRows(page), r => r.some(x => x[3] === 'while paused'), 5000)
  t.pass('it shows after resume')

  send('order:{"id":7,"items":["a","b"],"total":12.5}')
  await pollFor('the JSON line', () => tailRows(page), r => r.some(x => x[3].includes('"total":12.5')), 5000)
  await page.selectOption('select[name=format]', 'json')
  const pretty = await page.locator('pre.json').first().textContent()
  t.equal(pretty, JSON.stringify({ id: 7, items: ['a', 'b'], total: 12.5 }, null, 2), 'pretty-printed JSON')
  await saveScreenshot(page, 'console-tail')
  producer.stdin!.end()

  await page.click('button[name=stop]')
  await page.selectOption('select[name=from]', 'offset')
  await page.fill('input[name=offset]', '0')
  await page.selectOption('select[name=format]', 'text')
  await page.click('button[name=start]')
  await pollFor('records from offset 0 of every partition', () => tailRows(page), r => r.filter(x => x[1] === '0').length >= 2, 5000)
  t.pass('from an offset: earlier records come back')
  await page.click('button[name=stop]')
  await page.fill('input[name=offset]', '99999')
  await page.click('button[name=start]')
  await page.locator('#tail-status[data-state=running]').waitFor({ timeout: 10_000 })
  t.match(await page.textContent('#tail-status'), /end before offset 99999: new records only there\./, 'an offset past the end is said on the status line')
  await page.click('button[name=stop]')
})

t.test('Consumer groups: a group started by the CLI, its lag going to zero', async t => {
  await spool(t, ['topic', 'create', 'console-billing', '--partitions', '3'])
  await spool(t, ['produce', 'console-billing', '--key-separator', ':'], Array.from({ length: 300 }, (_, i) => `k${i}:m${i}`).join('\n') + '\n')
  // A first member reads one record and commits it, so the group has a lag to show.
  await spool(t, ['consume', 'console-billing', '--group', 'console-cli', '--from-beginning', '--max-messages', '1'])
  await page.goto(`${base}/#/groups`)
  const lagCell = page.locator('td.lag[data-group="console-cli"]')
  const before = await pollFor('the group with a lag', () => lagCell.textContent({ timeout: 5000 }), text => Number(text) > 0, 5000)
  t.ok(Number(before) > 0, `lag ${before} after one record`)
  const follower = spawnCli(t, ['consume', 'console-billing', '--group', 'console-cli', '--from-beginning', '-f', '--broker', address])
  await pollFor('the lag at zero', () => lagCell.textContent(), text => text === '0', 20_000)
  t.pass('the CLI member caught up and the console shows lag 0')
  await page.click('a.group-name:has-text("console-cli")')
  await page.locator('#group-total-lag').waitFor({ timeout: 5000 })
  const members = await pollFor('the CLI member', () => page.locator('table.members tbody').innerText(), text => text.includes('spool-cli'), 5000)
  t.match(members, /spool-cli\s+127\.0\.0\.1\s+console-billing \[0, 1, 2\]/, 'member with client id, host and assignment')
  const offsets = await page.locator('table.offsets tbody').innerText()
  for (const p of [0, 1, 2]) {
    const end = broker.logs.partition('console-billing', p).logEndOffset
    t.match(offsets, new RegExp(`console-billing\\s+${p}\\s+${end}\\s+${end}\\s+0\\s+spool-cli`), `partition ${p}: committed = end = ${end}, lag 0, owner`)
  }
  await page.waitForTimeout(1200) // one more lag sample on the chart
  await saveScreenshot(page, 'console-groups')
  if (follower.exitCode === null) {
    const exited = new Promise(resolve => follower.once('exit', resolve))
    follower.kill('SIGINT')
    await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))])
  }
})

t.test('Traffic: produce rates per topic and connections by egress', async t => {
  await page.goto(`${base}/#/traffic`)
  const producer = spawnCli(t, ['produce', 'console-traffic', '--broker', address])
  const timer = setInterval(() => producer.stdin!.write('x'.repeat(100) + '\n'), 20)
  t.teardown(() => clearInterval(timer))
  await pollFor('a produce rate for console-traffic', () => page.locator('table.topic-rates').innerText(), text => /console-traffic\s+[1-9]/.test(text), 10_000)
  await pollFor('the producer in the connections table', () => page.locator('table.connections').innerText(), text => /spool-cli|native-tcp/.test(text), 5000)
  t.ok(await page.locator('[data-chart=in] polyline').count() >= 1, 'a produce chart line')
  const outs = await page.$$eval('table.connections tbody tr td.egress', tds => tds.map(td => td.textContent ?? ''))
  t.ok(outs.length >= 1, 'connections listed')
  await saveScreenshot(page, 'console-traffic')
  clearInterval(timer)
  producer.stdin!.end()
  // The duplicate create in the Topics test is answered 409 on purpose; Chromium logs it.
  t.same(errors.filter(e => !/status of 409 \(Conflict\)/.test(e)), [], 'no errors in the console page')
})

// ---------------------------------------------------------------------------------------
// What a new user trips over: missing things said in words, units, the name rule, a scale
// that survives a spike, and every screen at 1440 and 400 px wide without sideways scroll.

t.test('/examples/browser without its trailing slash redirects to the page', async t => {
  const r = await fetch(`${base}/examples/browser?topic=orders`, { redirect: 'manual' })
  t.equal(r.status, 301)
  t.equal(r.headers.get('location'), '/examples/browser/?topic=orders', 'to the slash form, query kept')
  const followed = await fetch(`${base}/examples/browser?topic=orders`)
  t.equal(followed.status, 200)
  t.match(await followed.text(), /Tail a topic/, 'the example page')
  t.equal((await fetch(`${base}/examples/nope`, { redirect: 'manual' })).status, 404, 'a missing path is still a 404')
})

t.test('examples/browser/sdk-snippet.html (the README\'s Browser SDK page) runs to its end, twice', async t => {
  const snippet = await context.newPage()
  t.teardown(() => snippet.close())
  const logged: string[] = []
  snippet.on('console', msg => logged.push(msg.text()))
  snippet.on('pageerror', err => logged.push(`pageerror: ${err.message}`))
  for (const round of [1, 2]) {
    logged.length = 0
    await snippet.goto(`${base}/examples/browser/sdk-snippet.html`)
    await pollFor(`run ${round} to end`, async () => [...logged], l => l.includes('done') || l.some(x => x.startsWith('pageerror')), 20_000)
    t.same(logged.filter(l => l.startsWith('pageerror')), [], `run ${round}: no error`)
    t.equal(logged.filter(l => /^\d+ \d+ hello$/.test(l)).length, round, `run ${round}: the reader read every click up to its own`)
    t.equal(logged.filter(l => /^dashboards \d+ \d+ hello$/.test(l)).length, 1, `run ${round}: the group member read only what is new for the group`)
  }
})

t.test('a missing group and a missing topic are said in words; a missing group is polled slowly', async t => {
  const asked: string[] = []
  const onRequest = (r: { url (): string }): void => { if (r.url().includes('/api/groups/no-such-group')) asked.push(r.url()) }
  page.on('request', onRequest)
  t.teardown(() => page.off('request', onRequest))
  await page.goto(`${base}/#/groups/no-such-group`)
  const missing = await page.locator('#group-missing').textContent({ timeout: 5000 })
  t.match(missing, /^There is no consumer group named "no-such-group"\./, 'said in words')
  t.equal(await page.locator('.error:visible').count(), 0, 'no raw error banner')
  t.equal(await page.locator('text=Loading…').count(), 0, 'no permanent "Loading…"')
  const before = asked.length
  await page.waitForTimeout(3500)
  t.ok(asked.length - before <= 1, `${asked.length - before} requests for the missing group in 3.5 s (it was one a second)`)

  await page.goto(`${base}/#/tail/no-such-topic`)
  const banner = page.locator('.error:visible')
  await banner.waitFor({ timeout: 10_000 })
  const said = await banner.textContent()
  t.match(said, /^There is no topic named "no-such-topic"\./, 'the tail says it in words')
  t.notMatch(said, /UNKNOWN_TOPIC_OR_PARTITION/, 'not the raw code')
})

t.test('a topic\'s config shows units; the create form says which characters a name may have', async t => {
  await page.goto(`${base}/#/topics/console-orders`)
  const config = await page.locator('table.config tbody').innerText({ timeout: 5000 })
  t.match(config, /retentionMs\s+1h \(3600000 ms\)/, 'a duration in words with its unit')
  t.match(config, /segmentBytes\s+1\.0 GiB \(1073741824 bytes\)/, 'a size in words with its unit')
  t.match(config, /retentionBytes\s+no limit \(-1\)/, '-1 in words')
  const bare = await page.$$eval('table.config td:nth-child(2)', tds => tds.map(td => td.textContent ?? '').filter(v => /^\d{5,}$/.test(v)))
  t.same(bare, [], 'no bare large number')

  await page.goto(`${base}/#/topics`)
  await page.fill('form.create input[name=name]', 'bad name!')
  const message = await page.$eval('form.create input[name=name]', el => (el as HTMLInputElement).validationMessage)
  t.match(message, /letters .*digits.*dots \(\.\), underscores \(_\) and hyphens \(-\)/, `the browser says the rule: "${message}"`)
  await page.fill('form.create input[name=name]', 'good.name_1-x')
  t.equal(await page.$eval('form.create input[name=name]', el => (el as HTMLInputElement).validationMessage), '', 'a good name passes')
  await page.fill('form.create input[name=name]', '')
})

t.test('Traffic after a spike: steady traffic stays a visible line, the spike is marked', async t => {
  await page.goto(`${base}/#/traffic`)
  await spool(t, ['topic', 'create', 'console-spiky'])
  await spool(t, ['produce', 'console-spiky'], Array.from({ length: 30_000 }, (_, i) => `spike ${i}`).join('\n') + '\n')
  const steady = spawnCli(t, ['produce', 'console-spiky', '--broker', address])
  // 100 records/s, above the earlier tests' traffic still in the chart's window (the
  // Traffic test's 50/s), so the scale follows this line whatever the machine's speed.
  const timer = setInterval(() => steady.stdin!.write('steady\n'.repeat(5)), 50)
  t.teardown(() => clearInterval(timer))
  // The chart's line for the topic: its last point's height above the zero line.
  const lastPointAboveZero = (): Promise<number> => page.$$eval('[data-chart=in] svg.chart polyline', lines => {
    const line = lines.find(l => l.querySelector('title')?.textContent === 'console-spiky')
    const zero = Number(document.querySelector('[data-chart=in] svg.chart line.grid')?.getAttribute('y1') ?? 0)
    const last = line?.getAttribute('points')?.trim().split(' ').at(-1)?.split(',')
    return last === undefined ? -1 : zero - Number(last[1])
  })
  const height = await pollFor('the steady line clear of the zero line after the spike', async () => ({
    above: await lastPointAboveZero(),
    clipped: await page.locator('[data-chart=in] .clip-note').count(),
  }), v => v.clipped > 0 && v.above > 40, 25_000)
  t.ok(height.above > 40, `steady traffic is drawn ${height.above.toFixed(0)} px above zero (of 172)`)
  t.match(await page.locator('[data-chart=in] .clip-note').textContent(), /off the scale, peak [\d.]+k?\/s/, 'the spike is said, with its peak')
  t.ok(await page.locator('[data-chart=in] path.clipped').count() >= 1, 'and marked on the top edge')
  await saveScreenshot(page, 'console-traffic-spike')
  clearInterval(timer)
  steady.stdin!.end()
})

t.test('every screen at 1440 and 400 px: no sideways scrolling, keys on one line; screenshots', async t => {
  await page.goto(`${base}/#/tail/console-orders`)
  await page.locator('#tail-status[data-state=running]').waitFor({ timeout: 10_000 })
  await spool(t, ['produce', 'console-orders', '--key-separator', ':'], Array.from({ length: 6 }, (_, i) => `customer-${i % 3}:{"order":${i},"customer":"customer-${i % 3}","total":${i * 10.5}}`).join('\n') + '\n')
  await pollFor('the customer rows', () => tailRows(page), rows => rows.filter(r => r[2]?.startsWith('customer-')).length >= 6, 10_000)
  const views: Array<[string, string, string]> = [
    ['topics', '#/topics', 'table.topics'],
    ['topic', '#/topics/console-orders', 'table.config'],
    ['groups', '#/groups', 'table.groups'],
    ['group', '#/groups/console-cli', 'table.offsets'],
    ['traffic', '#/traffic', 'table.connections'],
  ]
  for (const width of [1440, 400]) {
    await page.setViewportSize({ width, height: 900 })
    for (const [name, hash, ready] of views) {
      await page.goto(`${base}/${hash}`)
      await page.locator(ready).first().waitFor({ timeout: 10_000 })
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      t.ok(overflow <= 0, `${name} at ${width} px: the page does not scroll sideways (${overflow} px too wide)`)
      await saveScreenshot(page, `console-${name}-${width}`)
    }
    // The live tail: rows kept from before the resize (the view is not left).
    await page.goto(`${base}/#/tail/console-orders`)
    await page.locator('#tail-status[data-state=running]').waitFor({ timeout: 10_000 })
    await spool(t, ['produce', 'console-orders', '--key-separator', ':'], `customer-2:{"order":${width},"customer":"customer-2","note":"a value with some words in it so that it takes room"}\n`)
    await pollFor('the row', () => tailRows(page), rows => rows.some(r => r[2] === 'customer-2'), 10_000)
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
    t.ok(overflow <= 0, `tail at ${width} px: the page does not scroll sideways (${overflow} px too wide)`)
    const keyLines = await page.$eval('table.tail tbody tr td.key', td => {
      const range = document.createRange()
      range.selectNodeContents(td)
      return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size
    })
    t.equal(keyLines, 1, `tail at ${width} px: the key "customer-2" is on one line`)
    await saveScreenshot(page, `console-tail-${width}`)
  }
  await page.setViewportSize({ width: 1280, height: 800 })
  t.same(errors.filter(e => !/status of (409 \(Conflict\)|404 \(Not Found\))/.test(e)), [], 'no errors in the console page but the 404s of the missing group and topic')
})
