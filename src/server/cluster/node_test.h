/*
 * Test-only hooks of node.c (tests/unit/cluster/test_node.c): not for the
 * server.  cnode_pause(n, 1) stops the node's heartbeat (and its reaping)
 * without leaving the cluster, as a stalled or partitioned process would;
 * cnode_pause(n, 0) resumes it.
 */
#ifndef PETREL_CLUSTER_NODE_TEST_H
#define PETREL_CLUSTER_NODE_TEST_H

#include "server/cluster/cluster.h"

void cnode_pause(cnode_t *n, int paused);

#endif
