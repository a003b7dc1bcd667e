// Broker settings: defaults, precedence (flags > environment > config file > defaults),
// and a named error for every bad value.
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SETTINGS, defaultConfig, envName, flagName, resolveConfig } from '../../broker/config/settings.js'
import { InvalidConfigError } from '../../protocol/errors.js'

t.test('defaults match the architecture ports', async t => {
  const c = defaultConfig()
  t.equal(c.port, 7420)
  t.equal(c.httpPort, 7421)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.dataDir, './data')
  t.equal(c.autoCreateTopics, true)
  t.equal(c.defaultPartitions, 1)
  t.equal(flagName('httpPort'), '--http-port')
  t.equal(envName('maxFrameBytes'), 'SPOOL_MAX_FRAME_BYTES')
})

t.test('precedence: flags over env over file over defaults', async t => {
  const dir = t.testdir()
  const file = join(dir, 'spool.json')
  writeFileSync(file, JSON.stringify({ port: 1111, httpPort: 2222, dataDir: '/from-file', logLevel: 'debug' }))
  const c = resolveConfig({
    flags: { configFile: file, port: '3333' },
    env: { SPOOL_HTTP_PORT: '4444', SPOOL_PORT: '5555' },
  })
  t.equal(c.port, 3333, 'flag beats env and file')
  t.equal(c.httpPort, 4444, 'env beats file')
  t.equal(c.dataDir, '/from-file', 'file beats default')
  t.equal(c.logLevel, 'debug')
  t.equal(c.maxConnections, SETTINGS.maxConnections.default)
  const viaEnvFile = resolveConfig({ env: { SPOOL_CONFIG_FILE: file } })
  t.equal(viaEnvFile.port, 1111, 'config file named by the environment')
})

t.test('ports can be switched off; booleans parse', async t => {
  const c = resolveConfig({ flags: { httpPort: 'off', autoCreateTopics: 'false' } })
  t.equal(c.httpPort, null)
  t.equal(c.autoCreateTopics, false)
})

t.test('bad values are named errors that say where they came from', async t => {
  t.throws(() => resolveConfig({ flags: { port: '70000' } }), { name: 'InvalidConfigError', message: /flag --port/ })
  t.throws(() => resolveConfig({ env: { SPOOL_MAX_FRAME_BYTES: '12abc' } }), { message: /SPOOL_MAX_FRAME_BYTES/ })
  t.throws(() => resolveConfig({ flags: { logLevel: 'loud' } }), InvalidConfigError)
  t.throws(() => resolveConfig({ flags: { maxConnections: '0' } }), { message: /maxConnections must be positive/ })
  t.throws(() => resolveConfig({ flags: { maxBatchBytes: '999999999', maxFrameBytes: '1000' } }), InvalidConfigError)
  const dir = t.testdir()
  const typo = join(dir, 'typo.json')
  writeFileSync(typo, JSON.stringify({ prot: 1 }))
  t.throws(() => resolveConfig({ flags: { configFile: typo } }), { message: /unknown setting "prot"/ })
  const broken = join(dir, 'broken.json')
  writeFileSync(broken, '{ nope')
  t.throws(() => resolveConfig({ flags: { configFile: broken } }), InvalidConfigError)
  t.throws(() => resolveConfig({ flags: { configFile: join(dir, 'missing.json') } }), InvalidConfigError)
})
