/*
 * Workload "idle": what an idle, logged-in connection costs the server.
 *
 *   1. baseline: the server's VmRSS (and CPU time) before any connection
 *   2. ramp: open --conns connections (--concurrency at a time), each
 *      logging in as its own user bench-<i>; pings start at once, so a slow
 *      ramp never trips the server's heartbeat timeout
 *   3. hold --hold seconds: every connection sends PING 9999 once per
 *      --heartbeat-ms, spread evenly; the server must close none of them
 *   4. at the end of the hold: VmRSS and CPU time again
 *
 * RSS per connection = (after - baseline) * 1024 / logged-in connections:
 * everything the server keeps in user space for an idle logged-in
 * connection (conn_t, libuv handle, session registry, maps, allocator
 * overhead), amortised.  Kernel socket buffers are not in RSS.
 */
#include "bench.h"

#include <stdio.h>

int wl_idle(bench_t *b, result_t *r)
{
    const bench_opts_t *o = b->o;
    proc_snap_t base, ramped, after;

    proc_snap(o->pid, &base);
    if (o->pid && base.rss_kib < 0)
        fprintf(stderr, "petrel-bench: cannot read /proc/%ld/status; RSS not measured\n",
                (long)o->pid);

    b->phase = PHASE_RAMP;
    bench_heartbeat(b, o->heartbeat_ms);
    uint64_t t_ramp = bench_now_ns();
    bench_connect_range(b, 0, b->n, o->concurrency);
    bench_run_until(b, bench_pred_settled, 0);
    double ramp_s = (double)(bench_now_ns() - t_ramp) / 1e9;
    fprintf(stderr, "petrel-bench: ramp done in %.2f s: %llu logged in, %llu failed\n", ramp_s,
            (unsigned long long)b->cnt.logins_ok, (unsigned long long)bench_failures(b));

    proc_snap(o->pid, &ramped);
    uint64_t hold_ns = (uint64_t)o->hold_s * 1000000000ull;
    uint64_t t_hold = bench_now_ns();
    uint32_t ready_at_start = b->ready;
    if (!b->aborted) {
        b->phase = PHASE_HOLD;
        bench_run_until(b, bench_pred_never, t_hold + hold_ns);
    }
    double hold_s = (double)(bench_now_ns() - t_hold) / 1e9;
    proc_snap(o->pid, &after);
    b->phase = PHASE_END;
    uint32_t ready_at_end = b->ready;

    int have_rss = base.rss_kib >= 0 && after.rss_kib >= 0;
    uint64_t conns_for_rss = b->cnt.logins_ok ? b->cnt.logins_ok : 1;
    double per_conn = have_rss ? (double)(after.rss_kib - base.rss_kib) * 1024.0 / (double)conns_for_rss
                               : 0.0;
    double per_conn_anon = base.anon_kib >= 0 && after.anon_kib >= 0
                               ? (double)(after.anon_kib - base.anon_kib) * 1024.0 / (double)conns_for_rss
                               : -1.0;
    int have_cpu = ramped.cpu_ticks >= 0 && after.cpu_ticks >= 0;
    double cpu_hold = have_cpu ? ticks_to_s(after.cpu_ticks - ramped.cpu_ticks) : 0.0;
    double cpu_ramp = ramped.cpu_ticks >= 0 && base.cpu_ticks >= 0
                          ? ticks_to_s(ramped.cpu_ticks - base.cpu_ticks) : -1.0;

    bench_shutdown(b);

    res_begin(r, "idle");
    bench_result_common(b, r);
    res_int(r, "hold_s", o->hold_s, "hold s");
    res_int(r, "heartbeat_ms", o->heartbeat_ms, NULL);
    res_num(r, "ramp_s", ramp_s, 2, "ramp s");
    res_num(r, "hold_measured_s", hold_s, 2, NULL);
    res_int(r, "ready_at_hold_start", ready_at_start, NULL);
    res_int(r, "ready_at_hold_end", ready_at_end, NULL);
    res_int(r, "closed_during_hold", (long long)b->cnt.closed_in_hold, "closed by server in hold");
    res_int_opt(r, "rss_baseline_kib", base.rss_kib, "RSS base KiB");
    res_int_opt(r, "rss_after_login_kib", ramped.rss_kib, NULL);
    res_int_opt(r, "rss_after_kib", after.rss_kib, "RSS after KiB");
    res_int_opt(r, "rss_anon_baseline_kib", base.anon_kib, NULL);
    res_int_opt(r, "rss_anon_after_kib", after.anon_kib, NULL);
    res_int_opt(r, "rss_hwm_kib", after.hwm_kib, NULL);
    res_num_opt(r, "rss_per_conn_bytes", per_conn, have_rss, 0, "RSS/conn B");
    res_num_opt(r, "anon_per_conn_bytes", per_conn_anon, per_conn_anon >= 0, 0, NULL);
    res_num_opt(r, "server_cpu_ramp_s", cpu_ramp, cpu_ramp >= 0, 2, NULL);
    res_num_opt(r, "server_cpu_hold_s", cpu_hold, have_cpu, 2, "server CPU s (hold)");
    proc_res_split(r, &ramped, &after);   /* the hold */
    res_int(r, "ping_rtt_p50_us", (long long)hist_pct(&b->ping_rtt, 50), NULL);
    res_int(r, "ping_rtt_p99_us", (long long)hist_pct(&b->ping_rtt, 99), "ping p99 us");
    res_int(r, "ping_rtt_max_us", (long long)b->ping_rtt.max, NULL);

    int ok = !b->aborted && bench_failures(b) == 0 && b->cnt.closed_in_hold == 0 &&
             b->cnt.logins_ok == o->conns;
    res_bool(r, "ok", ok, NULL);
    return ok ? 0 : 1;
}
