/* The container's side of its network, done by the container's own process in its new network
 * namespace before it drops its capabilities: loopback up, and on a bridge network the veth end
 * berth created in this namespace (named eth0) given its address, MTU and default route. Plain
 * rtnetlink, single-threaded, no allocation. */
#ifndef BERTH_NETSETUP_H
#define BERTH_NETSETUP_H

#include "config.h"

/* 0, or -1 with errno set and *what naming the step that failed. */
int net_setup(const struct config *c, const char **what);

#endif
