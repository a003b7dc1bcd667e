/** Group apis: thin adapters from the wire to the GroupCoordinator. */

import type { GroupCoordinator } from '../../groups/coordinator.js'
import type { Dispatcher } from './dispatcher.js'

export function registerGroupHandlers (dispatcher: Dispatcher, groups: GroupCoordinator): void {
  dispatcher.register('GroupHeartbeat', (req, rc) => {
    const body = groups.heartbeat(req, { clientId: rc.connection.clientId, clientHost: rc.connection.peer.host })
    rc.connection.group = req.memberEpoch < 0 ? null : req.groupId
    return { body }
  })
  dispatcher.register('OffsetCommit', req => ({ body: groups.commitOffsets(req) }))
  dispatcher.register('OffsetFetch', req => ({ body: groups.fetchOffsets(req) }))
  dispatcher.register('ListGroups', () => ({ body: groups.listGroups() }))
  dispatcher.register('DescribeGroups', req => ({ body: groups.describeGroups(req) }))
  dispatcher.register('DeleteGroups', req => ({ body: groups.deleteGroups(req) }))
}
