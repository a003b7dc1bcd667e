/**
 * Group apis: thin adapters from the wire to the GroupCoordinator. FindCoordinator names the
 * broker that leads the group's `__consumer_offsets` partition (itself on a single broker);
 * an offset commit is answered once it is durable as the coordinator defines it (in a
 * cluster: held by the partition's in-sync replicas).
 */

import { CoordinatorNotAvailableError } from '../../../protocol/errors.js'
import type { GroupCoordinator } from '../../groups/coordinator.js'
import { OFFSETS_TOPIC } from '../../groups/offset-store.js'
import type { ClusterView } from '../../services/cluster-view.js'
import type { Dispatcher } from './dispatcher.js'

export function registerGroupHandlers (dispatcher: Dispatcher, groups: GroupCoordinator, cluster: ClusterView): void {
  dispatcher.register('FindCoordinator', req => {
    const partition = groups.coordinatorPartition(req.key)
    const leader = cluster.partitions(OFFSETS_TOPIC)?.[partition]?.leader ?? -1
    const native = cluster.brokers().find(b => b.nodeId === leader)?.listeners.native
    if (leader < 0 || native === undefined) throw new CoordinatorNotAvailableError(`partition ${partition} of ${OFFSETS_TOPIC}, which holds group ${req.key}, has no leader right now`)
    return { body: { nodeId: leader, host: native.host, port: native.port } }
  })
  dispatcher.register('GroupHeartbeat', (req, rc) => {
    const body = groups.heartbeat(req, { clientId: rc.connection.clientId, clientHost: rc.connection.peer.host })
    rc.connection.group = req.memberEpoch < 0 ? null : req.groupId
    return { body }
  })
  dispatcher.register('OffsetCommit', async req => {
    const body = groups.commitOffsets(req)
    await groups.durable(req.groupId)
    return { body }
  })
  dispatcher.register('OffsetFetch', req => ({ body: groups.fetchOffsets(req) }))
  dispatcher.register('ListGroups', () => ({ body: groups.listGroups() }))
  dispatcher.register('DescribeGroups', req => ({ body: groups.describeGroups(req) }))
  dispatcher.register('DeleteGroups', req => ({ body: groups.deleteGroups(req) }))
}
