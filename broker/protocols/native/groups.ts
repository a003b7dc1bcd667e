/** Group apis: thin adapters from the wire to the group coordinator, through its access checks (groups/group-access.ts). */

import type { GroupAccess } from '../../groups/group-access.js'
import type { Dispatcher } from './dispatcher.js'

export function registerGroupHandlers (dispatcher: Dispatcher, groups: GroupAccess): void {
  dispatcher.register('GroupHeartbeat', (req, rc) => {
    const body = groups.heartbeat(rc.connection.caller, req, { clientId: rc.connection.clientId, clientHost: rc.connection.peer.host })
    rc.connection.group = req.memberEpoch < 0 ? null : req.groupId
    return { body }
  })
  dispatcher.register('OffsetCommit', (req, rc) => ({ body: groups.commitOffsets(rc.connection.caller, req) }))
  dispatcher.register('OffsetFetch', (req, rc) => ({ body: groups.fetchOffsets(rc.connection.caller, req) }))
  dispatcher.register('ListGroups', (_req, rc) => ({ body: groups.listGroups(rc.connection.caller) }))
  dispatcher.register('DescribeGroups', (req, rc) => ({ body: groups.describeGroups(rc.connection.caller, req) }))
  dispatcher.register('DeleteGroups', (req, rc) => ({ body: groups.deleteGroups(rc.connection.caller, req) }))
}
