/*
 * softswitch.c: a small model of a softswitch plugin built on libtollgate.
 *
 * A softswitch calls the plugin on its call-setup thread (may this call go through, and for
 * how long?) and on its hangup thread (charge what happened). Both are answered by the
 * engine in process: authorize from memory, settle as one durable transaction.
 *
 * Build against an installed libtollgate (see docs/c-api.md):
 *     cc -Wall -Wextra -Werror softswitch.c -o softswitch $(pkg-config --cflags --libs tollgate)
 * Run:
 *     ./softswitch /tmp/switch      (creates /tmp/switch/softswitch.db on first use)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tollgate.h>

/* One call leg as the switch tracks it. */
struct call {
    char call_id[64];
    uint64_t reservation; /* 0 when the call was refused */
    uint64_t max_seconds; /* the switch disconnects the call after this long */
};

static tg_engine *engine;

/* SIP answer for a refusal: the switch rejects the INVITE with it. */
static int sip_status(tg_result r) {
    switch (r) {
    case TG_RESULT_BALANCE_INSUFFICIENT: return 402; /* Payment Required */
    case TG_RESULT_ACCOUNT_NOT_FOUND:
    case TG_RESULT_ACCOUNT_BLOCKED:
    case TG_RESULT_CLIENT_BLOCKED:
    case TG_RESULT_COMPANY_BLOCKED: return 403; /* Forbidden */
    case TG_RESULT_RATING_NO_RATE: return 404;    /* Not Found: no route priced */
    case TG_RESULT_CAPACITY_EXCEEDED: return 486; /* Busy Here */
    default: return 500;
    }
}

/* Call setup: returns 0 to connect (with call->max_seconds set) or a SIP status. */
static int on_call_setup(struct call *call, const char *ani, const char *dialled) {
    tg_authorize_request req = {.account = ani, .auth_type = "ani", .destination = dialled};
    tg_authorization grant;
    tg_result r = tg_authorize(engine, &req, &grant);
    if (r != TG_RESULT_OK) {
        printf("  %s: %s -> %s refused: %s (%s)\n", call->call_id, ani, dialled, tg_result_code(r),
               tg_engine_last_error(engine));
        call->reservation = 0;
        return sip_status(r);
    }
    call->reservation = grant.reservation;
    call->max_seconds = grant.max_seconds;
    printf("  %s: %s -> %s via %s at %s/min: up to %llu s (held %s)\n", call->call_id, ani, dialled,
           grant.code, grant.rate, (unsigned long long)grant.max_seconds, grant.held);
    return 0;
}

/* Hangup: charge the call. A failed call (never answered) releases its reservation. */
static void on_hangup(const struct call *call, uint64_t answered_seconds) {
    if (call->reservation == 0) return;
    if (answered_seconds == 0) {
        tg_release(engine, call->reservation);
        printf("  %s: not answered, released\n", call->call_id);
        return;
    }
    tg_settle_request req = {.reservation = call->reservation,
                             .call_id = call->call_id,
                             .duration = answered_seconds};
    tg_settlement charge;
    tg_result r = tg_settle(engine, &req, &charge);
    if (r != TG_RESULT_OK) {
        /* A real plugin queues the hangup and retries: the call id makes a retry safe. */
        fprintf(stderr, "  %s: settle failed: %s (%s)\n", call->call_id, tg_result_code(r),
                tg_engine_last_error(engine));
        return;
    }
    printf("  %s: %llu s, billed %llu s, cost %s, balance now %s\n", call->call_id,
           (unsigned long long)answered_seconds, (unsigned long long)charge.billed_seconds, charge.cost,
           charge.balance);
}

/*
 * Low-balance callback: the engine calls it (on its own delivery thread, never on a call's
 * setup or hangup thread) for the events a provisioning handler of kind "callback" with
 * target "c" listens to; provision_demo adds one for clients.balance_zero. The event is JSON
 * text valid during the call only. A real plugin would warn the customer or tear down their
 * calls here; returning 0 acknowledges the event.
 */
static int on_event(void *userdata, const char *event_json, size_t len) {
    (void)userdata;
    printf("  event (%zu bytes): %s\n", len, event_json);
    return 0;
}

/* Management API call that must succeed (provisioning only, not the hot path). */
static int provision(const char *method, const char *params) {
    char *env = NULL;
    tg_result r = tg_call(engine, method, params, &env);
    int ok = r == TG_RESULT_OK && strstr(env, "\"code\":true") != NULL;
    if (!ok) fprintf(stderr, "%s failed: %s\n", method, env ? env : tg_engine_last_error(engine));
    tg_string_free(env);
    return ok;
}

/* First run: one client with an ANI account, a rate deck and a 2.00 payment. Uses the
 * administrator's credentials in each call; a real plugin would log in once and send SID. */
static int provision_demo(void) {
#define AUTH "\"auth\":{\"login\":\"admin\",\"password\":\"change-me-please\"}"
    return provision("rateTables.add", "{" AUTH ",\"name\":\"Retail\",\"rounding\":\"half_up\"}") &&
           provision("rates.import",
                     "{" AUTH ",\"id_rate_tables\":1,\"csv\":\"code,code_name,rate,min_volume,interval,"
                     "grace_volume,setup_fee,effective_from,effective_till\\n"
                     "447,UK Mobile,0.6,30,6,0,0.01,2020-01-01,\\n"
                     "44,UK,0.05,1,1,0,0,2020-01-01,\\n\"}") &&
           provision("clients.add", "{" AUTH ",\"name\":\"Alpha Calls\",\"orig_rate_table\":1}") &&
           provision("accounts.add", "{" AUTH ",\"id_clients\":1,\"name\":\"Alpha CLI\","
                                     "\"auth_type\":\"ani\",\"ident\":\"442071234567\"}") &&
           provision("transactions.add",
                     "{" AUTH ",\"id_clients\":1,\"type\":\"payment\",\"amount\":\"2.00\"}") &&
           provision("provisioning.add",
                     "{" AUTH ",\"name\":\"low balance\",\"event\":\"clients.balance_zero\","
                     "\"kind\":\"callback\",\"target\":\"c\"}");
#undef AUTH
}

int main(int argc, char **argv) {
    /* TOLLGATE_DB names the database (a file or a postgres:// URL); else softswitch.db in the
     * directory given as the first argument. */
    char path[512];
    const char *db = getenv("TOLLGATE_DB");
    if (db != NULL && db[0] != '\0') {
        snprintf(path, sizeof path, "%s", db);
        printf("libtollgate %s, database from TOLLGATE_DB\n", tg_version());
    } else {
        snprintf(path, sizeof path, "%s/softswitch.db", argc > 1 ? argv[1] : ".");
        printf("libtollgate %s, database %s\n", tg_version(), path);
    }
    if (tg_engine_open(path, &engine) != TG_RESULT_OK) {
        tg_result r = tg_engine_create(path, "admin", "change-me-please", &engine);
        if (r != TG_RESULT_OK) {
            fprintf(stderr, "cannot create %s: %s\n", path, tg_engine_last_error(NULL));
            return 1;
        }
        if (!provision_demo()) return 1;
    }
    if (tg_engine_set_event_callback(engine, on_event, NULL) != TG_RESULT_OK) {
        fprintf(stderr, "cannot register the event callback: %s\n", tg_engine_last_error(engine));
        return 1;
    }

    struct call calls[] = {{.call_id = "call-1"}, {.call_id = "call-2"}, {.call_id = "call-3"},
                           {.call_id = "call-4"}};
    const char *dialled[] = {"447911123456", "442079460000", "447911123456", "99912345"};
    const uint64_t talk[] = {73, 0, 600, 10};
    int refused = 0;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        int status = on_call_setup(&calls[i], "442071234567", dialled[i]);
        if (status) {
            printf("  %s: rejected with SIP %d\n", calls[i].call_id, status);
            refused++;
            continue;
        }
        uint64_t seconds = talk[i] < calls[i].max_seconds ? talk[i] : calls[i].max_seconds;
        on_hangup(&calls[i], seconds);
    }
    tg_engine_close(engine);
    /* The scripted day: call-4 has no rate; everything else connects (call-3 is cut at its
     * affordable limit). */
    return refused == 1 ? 0 : 1;
}
