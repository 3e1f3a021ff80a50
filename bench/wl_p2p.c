/*
 * Workload "p2p": one-to-one message throughput in a closed loop.
 *
 *   --clients N connections log in as bench-0 .. bench-<N-1>; connection 2i
 *   sends MSG_P2P 1103 to bench-<2i+1> and keeps --window (8) messages in
 *   flight: every MSG_ACK 1046 (sent by the server after the durable
 *   commit) lets it send the next one.  --size (64) bytes of messageBody,
 *   carrying the send time, so the receiver measures send -> receive
 *   latency on the pushed 1103.  --warmup (3) s of sending, then --duration
 *   (10) s measured, then a drain of --drain (2) s.
 *
 * Reports delivered msgs/s (counted at the receivers over the measured
 * interval), acked/s, latency p50/p99/p99.9, sent/acked/received and the
 * three that must be 0: lost (acked, never received), duplicated (same
 * messageKey twice at a receiver), out_of_order (messageSequence not
 * increasing per sender); server CPU over the interval and messages per
 * server CPU second; server RSS.  The engine is in p2p.c.
 */
#include "bench.h"

int wl_p2p(bench_t *b, result_t *r)
{
    return p2p_run(b, r, "p2p", 0);
}
