export * from './header.js'
export * from './records.js'
export * from './compression.js'
