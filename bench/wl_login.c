/*
 * Workload "login": how fast the server accepts connections and logins.
 *
 *   ramp:  --conns connections, --concurrency connect+login in flight at a
 *          time; rate = logins / (first connect start .. last LOGINACK),
 *          latency = connect start -> LOGINACK 9001, per connection
 *   storm (--storm): once every connection is logged in, all of them are
 *          closed in the same loop iteration and, as soon as the sockets
 *          are gone, all reconnect and log in again at once (no
 *          concurrency limit) -- what a server sees after a network blip.
 *          Same users and devices, so the server may still be tearing down
 *          the old session while the new LOGIN arrives.
 *
 * Heartbeats run throughout so a slow phase never trips the server's
 * heartbeat timeout.
 */
#include "bench.h"

#include <stdio.h>

typedef struct round_stats {
    uint64_t logins, failures;
    double dur_s, rate;
    uint64_t p50, p99, max;
} round_stats_t;

static void run_round(bench_t *b, uint32_t concurrency, round_stats_t *st)
{
    uint64_t logins0 = b->cnt.logins_ok, fail0 = bench_failures(b);
    bench_connect_range(b, 0, b->n, concurrency);
    bench_run_until(b, bench_pred_settled, 0);
    st->logins = b->cnt.logins_ok - logins0;
    st->failures = bench_failures(b) - fail0;
    st->dur_s = b->round_last_ns > b->round_first_ns
                    ? (double)(b->round_last_ns - b->round_first_ns) / 1e9 : 0.0;
    st->rate = st->dur_s > 0 ? (double)st->logins / st->dur_s : 0.0;
    st->p50 = hist_pct(&b->login_lat, 50);
    st->p99 = hist_pct(&b->login_lat, 99);
    st->max = b->login_lat.max;
}

int wl_login(bench_t *b, result_t *r)
{
    const bench_opts_t *o = b->o;
    proc_snap_t base, ramped, stormed;
    round_stats_t ramp = {0}, storm = {0};
    double close_s = 0;

    proc_snap(o->pid, &base);
    b->phase = PHASE_RAMP;
    bench_heartbeat(b, o->heartbeat_ms);
    run_round(b, o->concurrency, &ramp);
    proc_snap(o->pid, &ramped);
    fprintf(stderr, "petrel-bench: %llu logins in %.2f s (%.0f/s), p50 %llu us, p99 %llu us\n",
            (unsigned long long)ramp.logins, ramp.dur_s, ramp.rate,
            (unsigned long long)ramp.p50, (unsigned long long)ramp.p99);

    int storm_run = 0;
    uint64_t lost_before_storm = b->cnt.closed_by_server;
    if (o->storm && !b->aborted) {
        storm_run = 1;
        uint64_t t_close = bench_now_ns();
        bench_close_all(b);
        bench_run_until(b, bench_pred_closed, t_close + 10ull * 1000000000ull);
        close_s = (double)(bench_now_ns() - t_close) / 1e9;
        if (!b->aborted) {
            run_round(b, b->n, &storm);
            fprintf(stderr,
                    "petrel-bench: storm: %llu logins in %.2f s (%.0f/s), p50 %llu us, p99 %llu us, "
                    "%llu failed\n",
                    (unsigned long long)storm.logins, storm.dur_s, storm.rate,
                    (unsigned long long)storm.p50, (unsigned long long)storm.p99,
                    (unsigned long long)storm.failures);
        }
    }
    proc_snap(o->pid, &stormed);
    b->phase = PHASE_END;
    bench_shutdown(b);

    res_begin(r, o->storm ? "login+storm" : "login");
    bench_result_common(b, r);
    res_num(r, "login_duration_s", ramp.dur_s, 3, "login s");
    res_num(r, "login_rate", ramp.rate, 0, "logins/s");
    res_int(r, "login_p50_us", (long long)ramp.p50, "p50 us");
    res_int(r, "login_p99_us", (long long)ramp.p99, "p99 us");
    res_int(r, "login_max_us", (long long)ramp.max, NULL);
    res_bool(r, "storm", storm_run, NULL);
    if (o->storm) {
        res_num(r, "storm_close_s", close_s, 3, NULL);
        res_int(r, "storm_logins", (long long)storm.logins, "storm logins");
        res_int(r, "storm_failures", (long long)storm.failures, "storm failures");
        res_num(r, "storm_duration_s", storm.dur_s, 3, "storm s");
        res_num(r, "storm_rate", storm.rate, 0, "storm logins/s");
        res_int(r, "storm_p50_us", (long long)storm.p50, "storm p50 us");
        res_int(r, "storm_p99_us", (long long)storm.p99, "storm p99 us");
        res_int(r, "storm_max_us", (long long)storm.max, NULL);
    }
    res_int(r, "closed_by_server_before_storm", (long long)lost_before_storm, NULL);
    int have_cpu = base.cpu_ticks >= 0 && ramped.cpu_ticks >= 0;
    res_num_opt(r, "server_cpu_login_s", ticks_to_s(ramped.cpu_ticks - base.cpu_ticks), have_cpu, 2,
                "server CPU s");
    int have_cpu2 = ramped.cpu_ticks >= 0 && stormed.cpu_ticks >= 0 && o->storm;
    res_num_opt(r, "server_cpu_storm_s", ticks_to_s(stormed.cpu_ticks - ramped.cpu_ticks), have_cpu2,
                2, NULL);
    proc_res_split(r, &base, &ramped);   /* the first round of logins */
    res_int_opt(r, "rss_baseline_kib", base.rss_kib, NULL);
    res_int_opt(r, "rss_after_login_kib", ramped.rss_kib, NULL);
    res_int_opt(r, "rss_after_storm_kib", o->storm ? stormed.rss_kib : -1, NULL);

    uint64_t want = (uint64_t)o->conns * (storm_run ? 2u : 1u);
    int ok = !b->aborted && bench_failures(b) == 0 && b->cnt.logins_ok == want;
    res_bool(r, "ok", ok, NULL);
    return ok ? 0 : 1;
}
