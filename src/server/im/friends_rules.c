/*
 * The pure friendship rules shared by the use cases, their readers and
 * the notifications (friends.h, "rules"): what a relation row answers to
 * checkFriend / checkBlack, and who may see the adder's remark.  No I/O.
 */
#include "server/im/friends.h"

#include <string.h>

int friends_side_ok(int found, const store_friend_t *row, int black)
{
    if (!found || !row)
        return black; /* no row: not a friend, not blacklisted */
    return black ? row->black != 2 : row->status == 1;
}

int friends_both_status(int ab, int ba)
{
    return ab && ba ? 1 : ab ? 2 : ba ? 3 : 4;
}

int friends_add_shows_remark(const char *recipient, const char *adder)
{
    return recipient && adder && strcmp(recipient, adder) == 0;
}
