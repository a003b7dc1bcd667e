/**
 * Group apis: thin adapters from the wire to the group coordinator, through its access
 * checks (groups/group-access.ts). FindCoordinator names the
 * broker that leads the group's `__consumer_offsets` partition (itself on a single broker);
 * an offset commit is answered once it is durable as the coordinator defines it (in a
 * cluster: held by the partition's in-sync replicas).
 */

import { CoordinatorNotAvailableError } from '../../../protocol/errors.js'
import type { GroupAccess } from '../../groups/group-access.js'
import { OFFSETS_TOPIC } from '../../groups/offset-store.js'
import { nativeAddressOf, type ClusterView } from '../../services/cluster-view.js'
import type { Dispatcher } from './dispatcher.js'

export function registerGroupHandlers (dispatcher: Dispatcher, groups: GroupAccess, cluster: ClusterView): void {
  dispatcher.register('FindCoordinator', (req, rc) => {
    const partition = groups.coordinator.coordinatorPartition(req.key)
    const leader = cluster.partitions(OFFSETS_TOPIC)?.[partition]?.leader ?? -1
    const broker = cluster.brokers().find(b => b.nodeId === leader)
    const native = broker === undefined ? undefined : nativeAddressOf(broker, rc.connection.peer.encrypted)
    if (leader < 0 || native === undefined) throw new CoordinatorNotAvailableError(`partition ${partition} of ${OFFSETS_TOPIC}, which holds group ${req.key}, has no leader right now`)
    return { body: { nodeId: leader, host: native.host, port: native.port } }
  })
  dispatcher.register('GroupHeartbeat', (req, rc) => {
    const body = groups.heartbeat(rc.connection.caller, req, { clientId: rc.connection.clientId, clientHost: rc.connection.peer.host })
    rc.connection.group = req.memberEpoch < 0 ? null : req.groupId
    return { body }
  })
  dispatcher.register('OffsetCommit', async (req, rc) => {
    const body = groups.commitOffsets(rc.connection.caller, req)
    await groups.coordinator.durable(req.groupId)
    return { body }
  })
  dispatcher.register('OffsetFetch', (req, rc) => ({ body: groups.fetchOffsets(rc.connection.caller, req) }))
  dispatcher.register('ListGroups', (_req, rc) => ({ body: groups.listGroups(rc.connection.caller) }))
  dispatcher.register('DescribeGroups', (req, rc) => ({ body: groups.describeGroups(rc.connection.caller, req) }))
  dispatcher.register('DeleteGroups', (req, rc) => ({ body: groups.deleteGroups(rc.connection.caller, req) }))
}
