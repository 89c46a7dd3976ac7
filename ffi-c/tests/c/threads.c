/* Eight threads authorize and settle calls concurrently on one engine (a real database
 * file); afterwards the costs they were told add up to the client's balance change in the
 * ledger, every call has exactly one xDR, and no reservation is left open.
 * Usage: threads DIR */
#include <pthread.h>

#include "support.h"

#define THREADS 8
#define CALLS 40

static tg_engine *engine;
static pthread_barrier_t all_failed;

struct worker {
    int index;
    long long charged; /* 1e-8 units */
    int settled;
    int errors;
    uint64_t first_reservation; /* of call 0, settled as t<index>-c0 */
};

static void *work(void *arg) {
    struct worker *w = arg;
    /* The last error is per thread: every thread fails on its own reservation number, waits
     * until all have failed, then still reads its own message. */
    uint64_t mine = 900000000u + (uint64_t)w->index;
    char expected[64];
    snprintf(expected, sizeof expected, "reservation %llu not found", (unsigned long long)mine);
    if (tg_release(engine, mine) != TG_RESULT_RESERVATION_NOT_FOUND) w->errors++;
    pthread_barrier_wait(&all_failed);
    if (!strstr(tg_engine_last_error(engine), expected)) {
        fprintf(stderr, "thread %d reads '%s', wanted '%s'\n", w->index, tg_engine_last_error(engine),
                expected);
        w->errors++;
    }

    for (int i = 0; i < CALLS; i++) {
        /* Alternate destinations so both rates and rounding paths are exercised. */
        tg_authorize_request req = {.account = "1000", .auth_type = "ani",
                                    .destination = (i % 2) ? "447700900123" : "442079460000"};
        tg_authorization a;
        tg_result r = tg_authorize(engine, &req, &a);
        if (r != TG_RESULT_OK) {
            fprintf(stderr, "thread %d call %d: authorize %s: %s\n", w->index, i, tg_result_code(r),
                    tg_engine_last_error(engine));
            w->errors++;
            continue;
        }
        if (i % 10 == 9) { /* an unanswered call: released, never charged */
            r = tg_release(engine, a.reservation);
            if (r != TG_RESULT_OK) w->errors++;
            continue;
        }
        if (i == 0) w->first_reservation = a.reservation;
        char call_id[64];
        snprintf(call_id, sizeof call_id, "t%d-c%d", w->index, i);
        tg_settle_request s = {.reservation = a.reservation, .call_id = call_id,
                               .duration = (uint64_t)(1 + (w->index * 37 + i * 13) % 300)};
        tg_settlement out;
        r = tg_settle(engine, &s, &out);
        if (r != TG_RESULT_OK || out.replayed) {
            fprintf(stderr, "thread %d call %d: settle %s: %s\n", w->index, i, tg_result_code(r),
                    tg_engine_last_error(engine));
            w->errors++;
            continue;
        }
        w->charged += units(out.cost);
        w->settled++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/threads.db", argv[1]);
    tg_result r = tg_engine_create(path, ADMIN, ADMIN_PASSWORD, &engine);
    if (r != TG_RESULT_OK) {
        fprintf(stderr, "create: %s: %s\n", tg_result_code(r), tg_engine_last_error(NULL));
        return 2;
    }
    char sid[64];
    login(engine, sid);
    long long table = add_rate_table(engine, sid);
    long long client = add_client(engine, sid, table, "Shared", "1000", "1000.00");
    long long before = balance_units(engine, sid, client);

    pthread_barrier_init(&all_failed, NULL, THREADS);
    pthread_t threads[THREADS];
    struct worker workers[THREADS];
    for (int t = 0; t < THREADS; t++) {
        workers[t] = (struct worker){.index = t};
        CHECK(pthread_create(&threads[t], NULL, work, &workers[t]) == 0, "pthread_create");
    }
    long long charged = 0;
    int settled = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(workers[t].errors == 0, "thread %d had %d errors", t, workers[t].errors);
        charged += workers[t].charged;
        settled += workers[t].settled;
    }
    pthread_barrier_destroy(&all_failed);
    CHECK(settled == THREADS * (CALLS - CALLS / 10), "settled %d", settled);
    CHECK(charged > 0, "something was charged");
    long long after = balance_units(engine, sid, client);
    CHECK(before - after == charged, "balance fell by %lld units; calls were charged %lld", before - after,
          charged);

    char *env = must_call(engine, "xdrs.list", "{\"SID\":\"%s\",\"id_clients\":%lld,\"limit\":1}", sid, client);
    CHECK(json_int(env, "total") == settled, "xDRs: %s", env);
    tg_string_free(env);

    /* A second settle of every call charges nothing more. */
    tg_settle_request s = {.reservation = workers[0].first_reservation, .call_id = "t0-c0", .duration = 1};
    tg_settlement out;
    EXPECT(engine, tg_settle(engine, &s, &out), TG_RESULT_OK);
    CHECK(out.replayed, "replay");
    CHECK(balance_units(engine, sid, client) == after, "replay charged");

    /* Reopen: the ledger on disk agrees. */
    tg_engine_close(engine);
    EXPECT(NULL, tg_engine_open(path, &engine), TG_RESULT_OK);
    login(engine, sid);
    CHECK(balance_units(engine, sid, client) == after, "balance after reopen");
    tg_engine_close(engine);
    return finish("threads");
}
