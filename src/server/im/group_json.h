/*
 * The JSON shape of a group, a member row and a join request, shared by
 * the REST answers (api/api_groups.c) and the group notifications
 * (notify/groups.c) so a pushed change and a read agree field for field
 * (docs/API.md "Groups").  Pure: no I/O.
 */
#ifndef PETREL_IM_GROUP_JSON_H
#define PETREL_IM_GROUP_JSON_H

#include <jansson.h>
#include <stdint.h>

#include "server/store/store.h"

json_t *group_json_group(int32_t app_id, const store_group_t *g);
json_t *group_json_member(const store_group_member_t *m);
json_t *group_json_request(const store_group_request_t *r);

#endif
