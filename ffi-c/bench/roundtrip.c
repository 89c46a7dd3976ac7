/* The softswitch round trip from C: tg_authorize then tg_settle, one caller, calls per
 * second. Usage: roundtrip DIR CALLS memory|file
 *   memory: an in-memory engine (":memory:"): the engine's work plus the C boundary, no fsync
 *   file:   a database file in DIR, synchronous=FULL with group commit: fsync-bound
 * With memory, it then times authorize + release alone (no SQLite at all).
 * Run by `cargo bench -p tollgate-ffi --bench c_roundtrip`, which prints the figures. */
#include <time.h>

#include "support.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR CALLS memory|file\n", argv[0]);
        return 2;
    }
    long calls = strtol(argv[2], NULL, 10);
    int memory = strcmp(argv[3], "memory") == 0;
    char path[512];
    snprintf(path, sizeof path, "%s", ":memory:");
    if (!memory) snprintf(path, sizeof path, "%s/bench.db", argv[1]);
    tg_engine *e;
    if (tg_engine_create(path, ADMIN, ADMIN_PASSWORD, &e) != TG_RESULT_OK) {
        fprintf(stderr, "create: %s\n", tg_engine_last_error(NULL));
        return 2;
    }
    char sid[64];
    login(e, sid);
    long long table = add_rate_table(e, sid);
    add_client(e, sid, table, "Bench", "1000", "1000000000");

    tg_authorize_request req = {.account = "1000", .auth_type = "ani", .destination = "447911123456"};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < calls; i++) {
        tg_authorization a;
        tg_settlement s;
        char call_id[32];
        snprintf(call_id, sizeof call_id, "bench-%ld", i);
        tg_settle_request sr = {.call_id = call_id, .duration = 61};
        if (tg_authorize(e, &req, &a) != TG_RESULT_OK) {
            fprintf(stderr, "authorize: %s\n", tg_engine_last_error(e));
            return 1;
        }
        sr.reservation = a.reservation;
        if (tg_settle(e, &sr, &s) != TG_RESULT_OK) {
            fprintf(stderr, "settle: %s\n", tg_engine_last_error(e));
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    /* Integer arithmetic only: calls/s and nanoseconds per round trip. */
    printf("c round trip (%s): %ld calls in %lld ms: %lld calls/s, %lld ns per authorize+settle\n",
           argv[3], calls, ns / 1000000, ns ? (long long)calls * 1000000000LL / ns : 0,
           calls ? ns / calls : 0);
    if (memory) {
        /* The in-memory half alone (authorize + release): small enough that the boundary's
         * own cost would show. */
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < calls; i++) {
            tg_authorization a;
            if (tg_authorize(e, &req, &a) != TG_RESULT_OK || tg_release(e, a.reservation) != TG_RESULT_OK) {
                fprintf(stderr, "authorize/release: %s\n", tg_engine_last_error(e));
                return 1;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        printf("c authorize+release (memory): %ld calls in %lld ms: %lld calls/s, %lld ns each\n", calls,
               ns / 1000000, ns ? (long long)calls * 1000000000LL / ns : 0, calls ? ns / calls : 0);
    }
    tg_engine_close(e);
    return 0;
}
