/*
 * Storage interface, the umbrella: includes every domain's header of
 * store/ so callers that want all of it keep one include.  A caller that
 * needs one domain may include just that header:
 *
 *   core.h     store_t, config, open/close, done callbacks, error and
 *              shared reject codes, stats, write health
 *   apps.h     apps (tenants)
 *   users.h    IM users, demo accounts, custom status
 *   msg.h      one-to-one messages, recall, history rows
 *   conv.h     conversations and their read state
 *   friends.h  friendships, requests, blacklist, friend lists
 *   groups.h   groups, members, join requests, group messages
 *
 * What store/ owns and who may include it: store/README.md.
 */
#ifndef PETREL_STORE_H
#define PETREL_STORE_H

#include "server/store/core.h"
#include "server/store/apps.h"
#include "server/store/users.h"
#include "server/store/msg.h"
#include "server/store/conv.h"
#include "server/store/friends.h"
#include "server/store/groups.h"

#endif
