/*
 * Workload "rate": one-to-one messages at a fixed total rate, for latency at
 * a load the server sustains.
 *
 * Same pairs, body, checks and report as "p2p" (see wl_p2p.c, p2p.c), but
 * open loop: a token bucket (1 ms ticks, at most 50 ms of tokens banked)
 * sends --rate (5000) msgs/s in total, round-robin over the senders,
 * whatever the acks do.  --window (64) is only a cap on a sender's unacked
 * messages; a run is ok only if at least 95 % of the rate was sent and
 * delivered over the measured interval (`rate_met`).  Latency is measured
 * from the actual write, so a client that cannot keep the rate shows up as
 * `rate_met: false` rather than as hidden queueing.
 */
#include "bench.h"

int wl_rate(bench_t *b, result_t *r)
{
    return p2p_run(b, r, "rate", b->o->rate);
}
