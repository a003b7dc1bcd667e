/** `spool/broker`: the embeddable broker. */
export { Broker, type BrokerOptions, type BrokerPorts } from './broker.js'
export { SETTINGS, resolveConfig, defaultConfig, type BrokerConfig } from './config/settings.js'
export * from '../protocol/errors.js'
