/* Every exported function of libtollgate, success and failure: NULL arguments, bad UTF-8,
 * bad JSON, refusals, and outputs left untouched on failure.
 * Usage: api DIR (a scratch directory for database files). */
#include <stdbool.h>

#include "support.h"

static char path[512];
static tg_engine *const SENTINEL = (tg_engine *)0x1;

static void version_and_codes(void) {
    const char *v = tg_version();
    CHECK(v && v[0] >= '0' && v[0] <= '9' && strchr(v, '.'), "version '%s'", v ? v : "(null)");
    CHECK(strcmp(tg_result_code(TG_RESULT_OK), "ok") == 0, "ok code");
    CHECK(strcmp(tg_result_code(TG_RESULT_NULL_PARAMETER), "ffi.null_parameter") == 0, "null code");
    CHECK(strcmp(tg_result_code(TG_RESULT_BALANCE_INSUFFICIENT), "balance.insufficient") == 0,
          "balance code");
    CHECK(TG_RESULT_BALANCE_INSUFFICIENT == 4200, "numbers are core's: %u",
          (unsigned)TG_RESULT_BALANCE_INSUFFICIENT);
    CHECK(strcmp(tg_result_code(123456), "unknown") == 0, "unknown number is mapped, not trusted");
}

static void create_and_open_failures(const char *dir) {
    tg_engine *e = SENTINEL;
    EXPECT(NULL, tg_engine_create(NULL, ADMIN, ADMIN_PASSWORD, &e), TG_RESULT_NULL_PARAMETER);
    CHECK(strstr(tg_engine_last_error(NULL), "'path'") != NULL, "message: %s", tg_engine_last_error(NULL));
    EXPECT(NULL, tg_engine_create(path, NULL, ADMIN_PASSWORD, &e), TG_RESULT_NULL_PARAMETER);
    EXPECT(NULL, tg_engine_create(path, ADMIN, NULL, &e), TG_RESULT_NULL_PARAMETER);
    EXPECT(NULL, tg_engine_create(path, ADMIN, ADMIN_PASSWORD, NULL), TG_RESULT_NULL_PARAMETER);
    CHECK(strstr(tg_engine_last_error(NULL), "engine_out") != NULL, "message: %s", tg_engine_last_error(NULL));
    EXPECT(NULL, tg_engine_create("\xff\xfe.db", ADMIN, ADMIN_PASSWORD, &e), TG_RESULT_INVALID_UTF8);
    EXPECT(NULL, tg_engine_create(path, ADMIN, "short", &e), TG_RESULT_VALIDATION_INVALID);
    CHECK(strstr(tg_engine_last_error(NULL), "admin_password") != NULL, "message: %s",
          tg_engine_last_error(NULL));
    CHECK(e == SENTINEL, "engine_out written on failure");

    EXPECT(NULL, tg_engine_open(NULL, &e), TG_RESULT_NULL_PARAMETER);
    EXPECT(NULL, tg_engine_open(path, NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(NULL, tg_engine_open(path, &e), TG_RESULT_STORE_NOT_FOUND);
    char junk[512];
    snprintf(junk, sizeof junk, "%s/junk.db", dir);
    FILE *f = fopen(junk, "w");
    CHECK(f != NULL, "cannot write %s", junk);
    if (f) {
        fputs("this is not a database, just text long enough to have a header page\n", f);
        fclose(f);
    }
    EXPECT(NULL, tg_engine_open(junk, &e), TG_RESULT_STORE_NOT_TOLLGATE);
    CHECK(e == SENTINEL, "engine_out written on failure");
    CHECK(tg_engine_last_error(NULL)[0] != '\0', "a failed open explains itself");
}

static void call_and_rest(tg_engine *e, char *sid) {
    char *out = (char *)SENTINEL;
    EXPECT(NULL, tg_call(NULL, "auth.login", "{}", &out), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_call(e, NULL, "{}", &out), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_call(e, "auth.login", NULL, &out), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_call(e, "auth.login", "{}", NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_call(e, "auth.login", "{\"auth\": ", &out), TG_RESULT_MALFORMED_REQUEST);
    CHECK(strstr(tg_engine_last_error(e), "not valid JSON") != NULL, "message: %s", tg_engine_last_error(e));
    EXPECT(e, tg_call(e, "auth.login", "{\"x\":\"\xc3\x28\"}", &out), TG_RESULT_INVALID_UTF8);
    CHECK(out == (char *)SENTINEL, "envelope written on failure");

    /* Per handle: the engine's failures never overwrite the NULL-handle slot. */
    CHECK(strstr(tg_engine_last_error(NULL), "'engine'") != NULL, "NULL slot: %s", tg_engine_last_error(NULL));

    /* A refused call is an answer: TG_RESULT_OK with code false. */
    EXPECT(e, tg_call(e, "auth.login", "{\"auth\":{\"login\":\"" ADMIN "\",\"password\":\"wrong-password\"}}", &out),
           TG_RESULT_OK);
    CHECK(strstr(out, "\"code\":false") && strstr(out, "\"auth.failed\""), "envelope %s", out);
    tg_string_free(out);
    EXPECT(e, tg_call(e, "clients.frobnicate", "{}", &out), TG_RESULT_OK);
    CHECK(strstr(out, "\"api.unknown_method\""), "envelope %s", out);
    tg_string_free(out);

    login(e, sid);
    EXPECT(e, tg_call(e, "clients.list", "{\"SID\":\"\"}", &out), TG_RESULT_OK);
    tg_string_free(out);

    /* A vendor field accepted but not acted on is named in messages (issue 20). */
    char params[256];
    snprintf(params, sizeof params, "{\"SID\":\"%s\",\"name\":\"Vendor form\",\"low_balance_threshold\":5}", sid);
    EXPECT(e, tg_call(e, "clients.add", params, &out), TG_RESULT_OK);
    CHECK(strstr(out, "\"messages\":[\"ignored: low_balance_threshold (not supported)\"]") != NULL, "envelope %s",
          out);
    tg_string_free(out);
    /* An API token as AUTH in params: the call runs as its user, without a session. */
    char *made = must_call(e, "users.tokenAdd", "{\"SID\":\"%s\",\"name\":\"c switch\"}", sid);
    char api_token[128] = "";
    CHECK(json_field(made, "token", api_token, sizeof api_token) && strncmp(api_token, "tg_admin_", 9) == 0,
          "token: %s", made);
    tg_string_free(made);
    snprintf(params, sizeof params, "{\"AUTH\":\"%s\",\"q\":\"Vendor form\"}", api_token);
    EXPECT(e, tg_call(e, "clients.list", params, &out), TG_RESULT_OK);
    CHECK(json_int(out, "total") == 1 && strstr(out, "\"session_id\":null"), "by token: %s", out);
    tg_string_free(out);

    /* REST: log in for an access token, then read a customer with it. */
    uint16_t status = 7;
    char *body = (char *)SENTINEL;
    EXPECT(NULL, tg_rest(NULL, "Session", "login", "{}", NULL, &status, &body), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, NULL, "login", "{}", NULL, &status, &body), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, "Session", NULL, "{}", NULL, &status, &body), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, "Session", "login", NULL, NULL, &status, &body), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, "Session", "login", "{}", NULL, NULL, &body), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, "Session", "login", "{}", NULL, &status, NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_rest(e, "Session", "login", "{params", NULL, &status, &body), TG_RESULT_MALFORMED_REQUEST);
    CHECK(status == 7 && body == (char *)SENTINEL, "outputs written on failure");
    EXPECT(e, tg_rest(e, "Session", "login",
                      "{\"params\":{\"login\":\"" ADMIN "\",\"password\":\"" ADMIN_PASSWORD "\"}}", NULL,
                      &status, &body),
           TG_RESULT_OK);
    char token[2048] = "";
    CHECK(status == 200 && json_field(body, "access_token", token, sizeof token), "login: %u %s",
          status, body);
    tg_string_free(body);
    EXPECT(e, tg_rest(e, "Customer", "get_customer_info", "{\"params\":{\"i_customer\":999999}}", token,
                      &status, &body),
           TG_RESULT_OK);
    CHECK(status == 500 && strstr(body, "faultcode"), "missing customer: %u %s", status, body);
    tg_string_free(body);
    EXPECT(e, tg_rest(e, "Customer", "get_customer_list", "{}", "not-a-token", &status, &body), TG_RESULT_OK);
    CHECK(status == 500 && strstr(body, "faultcode"), "bad token: %u %s", status, body);
    tg_string_free(body);
}

static long long charging(tg_engine *e, const char *sid) {
    long long table = add_rate_table(e, sid);
    long long alpha = add_client(e, sid, table, "Alpha", "1000", "100.00");
    add_client(e, sid, table, "Beta", "2000", NULL);

    tg_authorize_request req = {.account = "1000", .auth_type = "ani", .destination = "447911123456"};
    tg_authorization a, untouched;
    memset(&untouched, 0x5a, sizeof untouched);

    /* NULL and refusals leave the output alone. */
    a = untouched;
    EXPECT(NULL, tg_authorize(NULL, &req, &a), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_authorize(e, NULL, &a), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_authorize(e, &req, NULL), TG_RESULT_NULL_PARAMETER);
    tg_authorize_request no_account = req;
    no_account.account = NULL;
    EXPECT(e, tg_authorize(e, &no_account, &a), TG_RESULT_NULL_PARAMETER);
    CHECK(strstr(tg_engine_last_error(e), "'account'"), "message: %s", tg_engine_last_error(e));
    tg_authorize_request unknown = req;
    unknown.account = "9999";
    EXPECT(e, tg_authorize(e, &unknown, &a), TG_RESULT_ACCOUNT_NOT_FOUND);
    tg_authorize_request broke = req;
    broke.account = "2000";
    EXPECT(e, tg_authorize(e, &broke, &a), TG_RESULT_BALANCE_INSUFFICIENT);
    tg_authorize_request nowhere = req;
    nowhere.destination = "999123";
    EXPECT(e, tg_authorize(e, &nowhere, &a), TG_RESULT_RATING_NO_RATE);
    CHECK(memcmp(&a, &untouched, sizeof a) == 0, "authorization written on failure");

    EXPECT(e, tg_authorize(e, &req, &a), TG_RESULT_OK);
    CHECK(a.reservation != 0, "reservation");
    CHECK(a.client == alpha, "client %lld", (long long)a.client);
    CHECK(strcmp(a.code, "447") == 0, "code %s", a.code);
    CHECK(units(a.rate) == units("0.6"), "rate %s", a.rate);
    CHECK(units(a.setup_fee) == units("0.01"), "setup fee %s", a.setup_fee);
    CHECK(a.max_seconds > 0 && a.granted_seconds == a.max_seconds, "grant %llu/%llu",
          (unsigned long long)a.granted_seconds, (unsigned long long)a.max_seconds);
    CHECK(units(a.held) > 0, "held %s", a.held);
    CHECK(a.expires_at_unix > 1700000000, "expires %lld", (long long)a.expires_at_unix);

    tg_authorization u = untouched;
    EXPECT(NULL, tg_update(NULL, a.reservation, &u), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_update(e, a.reservation, NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_update(e, 987654321, &u), TG_RESULT_RESERVATION_NOT_FOUND);
    CHECK(memcmp(&u, &untouched, sizeof u) == 0, "update output written on failure");
    EXPECT(e, tg_update(e, a.reservation, &u), TG_RESULT_OK);
    CHECK(u.reservation == a.reservation && strcmp(u.code, "447") == 0, "update %llu %s",
          (unsigned long long)u.reservation, u.code);

    /* Settle 61 s: 66 billed seconds at 0.60/min + 0.01 setup = 0.67. */
    long long before = balance_units(e, sid, alpha);
    tg_settle_request s = {.reservation = a.reservation, .call_id = "call-1", .duration = 61};
    tg_settlement out, blank;
    memset(&blank, 0x5a, sizeof blank);
    out = blank;
    EXPECT(NULL, tg_settle(NULL, &s, &out), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle(e, NULL, &out), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle(e, &s, NULL), TG_RESULT_NULL_PARAMETER);
    tg_settle_request no_id = s;
    no_id.call_id = NULL;
    EXPECT(e, tg_settle(e, &no_id, &out), TG_RESULT_NULL_PARAMETER);
    CHECK(memcmp(&out, &blank, sizeof out) == 0, "settlement written on failure");
    CHECK(balance_units(e, sid, alpha) == before, "a refused settle charged");

    EXPECT(e, tg_settle(e, &s, &out), TG_RESULT_OK);
    CHECK(out.billed_seconds == 66, "billed %llu", (unsigned long long)out.billed_seconds);
    CHECK(units(out.cost) == units("0.67"), "cost %s", out.cost);
    CHECK(units(out.balance) == units("99.33"), "balance %s", out.balance);
    CHECK(!out.replayed && !out.unreserved && out.client == alpha && out.xdr > 0, "flags");
    CHECK(balance_units(e, sid, alpha) == before - units("0.67"), "ledger balance");

    /* The same hangup again is a replay; different content is a conflict. */
    tg_settlement again;
    EXPECT(e, tg_settle(e, &s, &again), TG_RESULT_OK);
    CHECK(again.replayed && again.xdr == out.xdr && strcmp(again.cost, out.cost) == 0, "replay");
    tg_settle_request changed = s;
    changed.duration = 62;
    EXPECT(e, tg_settle(e, &changed, &again), TG_RESULT_IDEMPOTENCY_CONFLICT);
    CHECK(balance_units(e, sid, alpha) == before - units("0.67"), "charged once");

    /* A settle without a reservation prices the call from its details. */
    tg_settle_request lost = {.call_id = "call-2", .duration = 10, .account = "1000",
                              .auth_type = "ani", .destination = "4420", .connect_time_unix = 1767225600};
    EXPECT(e, tg_settle(e, &lost, &out), TG_RESULT_OK);
    CHECK(out.unreserved && units(out.cost) == units("0.0083"), "unreserved cost %s", out.cost);

    /* A batch: settled together, one result per call, a bad call refused alone. */
    tg_authorization b1;
    EXPECT(e, tg_authorize(e, &req, &b1), TG_RESULT_OK);
    long long before_batch = balance_units(e, sid, alpha);
    /* The second call priced from its details (the first call holds the funds). */
    tg_settle_request batch[4] = {
        {.reservation = b1.reservation, .call_id = "batch-1", .duration = 61},
        {.call_id = NULL, .duration = 61},
        {.call_id = "batch-2", .duration = 61, .account = "1000", .auth_type = "ani",
         .destination = "447", .connect_time_unix = 1767225600},
        {.reservation = 987654321, .call_id = "batch-3", .duration = 5},
    };
    tg_settlement settled[4];
    tg_result results[4];
    for (int i = 0; i < 4; i++) settled[i] = blank;
    EXPECT(NULL, tg_settle_batch(NULL, batch, 4, settled, results), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle_batch(e, NULL, 4, settled, results), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle_batch(e, batch, 4, NULL, results), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle_batch(e, batch, 4, settled, NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_settle_batch(e, batch, TG_SETTLE_BATCH_MAX + 1, settled, results),
           TG_RESULT_VALIDATION_OUT_OF_RANGE);
    EXPECT(e, tg_settle_batch(e, NULL, 0, NULL, NULL), TG_RESULT_OK);
    CHECK(balance_units(e, sid, alpha) == before_batch, "a refused batch charged");
    EXPECT(e, tg_settle_batch(e, batch, 4, settled, results), TG_RESULT_OK);
    CHECK(results[0] == TG_RESULT_OK && results[2] == TG_RESULT_OK, "results %u %u",
          (unsigned)results[0], (unsigned)results[2]);
    CHECK(results[1] == TG_RESULT_NULL_PARAMETER, "no call id: %u", (unsigned)results[1]);
    CHECK(results[3] == TG_RESULT_RESERVATION_NOT_FOUND, "unknown reservation: %u",
          (unsigned)results[3]);
    CHECK(units(settled[0].cost) == units("0.67") && units(settled[2].cost) == units("0.67"),
          "costs %s %s", settled[0].cost, settled[2].cost);
    CHECK(memcmp(&settled[1], &blank, sizeof blank) == 0 && memcmp(&settled[3], &blank, sizeof blank) == 0,
          "a refused call's settlement written");
    CHECK(balance_units(e, sid, alpha) == before_batch - 2 * units("0.67"), "batch charged twice");
    /* Again: both replayed, nothing charged. */
    EXPECT(e, tg_settle_batch(e, batch, 3, settled, results), TG_RESULT_OK);
    CHECK(settled[0].replayed && settled[2].replayed, "replays");
    CHECK(balance_units(e, sid, alpha) == before_batch - 2 * units("0.67"), "charged once");

    /* Release. */
    EXPECT(e, tg_authorize(e, &req, &a), TG_RESULT_OK);
    EXPECT(NULL, tg_release(NULL, a.reservation), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_release(e, a.reservation), TG_RESULT_OK);
    EXPECT(e, tg_release(e, a.reservation), TG_RESULT_RESERVATION_NOT_FOUND);
    CHECK(strstr(tg_engine_last_error(e), "not found"), "message: %s", tg_engine_last_error(e));
    EXPECT(e, tg_update(e, a.reservation, &u), TG_RESULT_RESERVATION_NOT_FOUND);
    return alpha;
}

/* What the event callback saw, and what it answers. */
struct events_seen {
    int calls;
    int forbid;
    char last[512];
};

static int on_event(void *userdata, const char *event_json, size_t len) {
    struct events_seen *seen = userdata;
    seen->calls++;
    CHECK(strlen(event_json) == len, "len %zu is the text's length %zu", len, strlen(event_json));
    snprintf(seen->last, sizeof seen->last, "%s", event_json);
    return seen->forbid;
}

static void event_callbacks(tg_engine *e, const char *sid) {
    struct events_seen seen = {0, 0, ""};
    EXPECT(NULL, tg_engine_set_event_callback(NULL, on_event, &seen), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_engine_set_event_callback(e, on_event, &seen), TG_RESULT_OK);
    /* A before-stage handler of kind callback, target "c": the callback decides. */
    long long handler = must_add(e, "provisioning.add",
                                 "{\"SID\":\"%s\",\"name\":\"c gate\",\"event\":\"clients.create\","
                                 "\"stage\":\"before\",\"kind\":\"callback\",\"target\":\"c\"}",
                                 sid);
    char *env = must_call(e, "clients.add", "{\"SID\":\"%s\",\"name\":\"Allowed\"}", sid);
    tg_string_free(env);
    CHECK(seen.calls == 1, "one call, got %d", seen.calls);
    CHECK(strstr(seen.last, "\"event\":\"clients.create\"") && strstr(seen.last, "\"stage\":\"before\"") &&
              strstr(seen.last, "Allowed"),
          "event %s", seen.last);
    /* A non-zero answer forbids: the call is refused and nothing is written. */
    seen.forbid = 1;
    char *out = NULL;
    char params[256];
    snprintf(params, sizeof params, "{\"SID\":\"%s\",\"name\":\"Forbidden\"}", sid);
    EXPECT(e, tg_call(e, "clients.add", params, &out), TG_RESULT_OK);
    CHECK(strstr(out, "\"handler.forbidden\"") && strstr(out, "the C callback returned 1"), "envelope %s", out);
    tg_string_free(out);
    snprintf(params, sizeof params, "{\"SID\":\"%s\",\"q\":\"Forbidden\"}", sid);
    env = must_call(e, "clients.list", "%s", params);
    CHECK(json_int(env, "total") == 0, "nothing written: %s", env);
    tg_string_free(env);
    /* Removed: the handler's callback is missing, which forbids too. */
    EXPECT(e, tg_engine_set_event_callback(e, NULL, NULL), TG_RESULT_OK);
    int before = seen.calls;
    snprintf(params, sizeof params, "{\"SID\":\"%s\",\"name\":\"Nobody\"}", sid);
    EXPECT(e, tg_call(e, "clients.add", params, &out), TG_RESULT_OK);
    CHECK(strstr(out, "\"handler.forbidden\""), "envelope %s", out);
    tg_string_free(out);
    CHECK(seen.calls == before, "a removed callback is never called");
    env = must_call(e, "provisioning.delete", "{\"SID\":\"%s\",\"id\":%lld}", sid, handler);
    tg_string_free(env);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/api.db", argv[1]);
    version_and_codes();
    create_and_open_failures(argv[1]);

    tg_engine *e = SENTINEL;
    EXPECT(NULL, tg_engine_create(path, ADMIN, ADMIN_PASSWORD, &e), TG_RESULT_OK);
    CHECK(e != NULL && e != SENTINEL, "engine");
    CHECK(tg_engine_last_error(e)[0] == '\0', "a new handle has no last error");
    tg_engine *other = SENTINEL;
    EXPECT(NULL, tg_engine_create(path, ADMIN, ADMIN_PASSWORD, &other), TG_RESULT_STORE_EXISTS);
    EXPECT(NULL, tg_engine_open(path, &other), TG_RESULT_STORE_IN_USE);
    CHECK(other == SENTINEL, "engine_out written on failure");

    char sid[64];
    call_and_rest(e, sid);
    long long alpha = charging(e, sid);
    event_callbacks(e, sid);

    /* A call up when the engine closes. */
    tg_authorize_request up = {.account = "1000", .auth_type = "ani", .destination = "447911123456"};
    tg_authorization open_call;
    EXPECT(e, tg_authorize(e, &up, &open_call), TG_RESULT_OK);

    /* Close, reopen: the charges are on disk. */
    tg_engine_close(e);
    tg_engine_close(NULL);
    tg_string_free(NULL);
    EXPECT(NULL, tg_engine_open(path, &e), TG_RESULT_OK);
    login(e, sid);
    /* 100 paid, less 0.67 + 0.0083 (two calls) and 2 x 0.67 (the batch). */
    CHECK(balance_units(e, sid, alpha) == units("97.9817"), "balance after reopen");
    tg_engine_close(e);

    /* Settings: refused when unknown or out of range, shown by the status when taken. */
    EXPECT(NULL, tg_engine_open_with(path, "{\"quota\": 60}", &other), TG_RESULT_VALIDATION_INVALID);
    CHECK(strstr(tg_engine_last_error(NULL), "quota") != NULL, "message: %s", tg_engine_last_error(NULL));
    EXPECT(NULL, tg_engine_open_with(path, "{\"quota_seconds\": 0}", &other), TG_RESULT_VALIDATION_INVALID);
    EXPECT(NULL, tg_engine_open_with(path, "not json", &other), TG_RESULT_MALFORMED_REQUEST);
    CHECK(other == SENTINEL, "engine_out written on failure");
    EXPECT(NULL, tg_engine_open_with(path, "{\"quota_seconds\": 60, \"clock_interval_ms\": 20}", &e),
           TG_RESULT_OK);
    char *status = (char *)SENTINEL;
    EXPECT(NULL, tg_engine_status(NULL, &status), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_engine_status(e, NULL), TG_RESULT_NULL_PARAMETER);
    EXPECT(e, tg_engine_status(e, &status), TG_RESULT_OK);
    CHECK(json_int(status, "quota_seconds") == 60, "status: %s", status);
    CHECK(json_int(status, "clock_interval_ms") == 20, "status: %s", status);
    CHECK(json_int(status, "open_reservations") == 1, "the open call is held again: %s", status);
    char held[64];
    CHECK(json_field(status, "USD", held, sizeof held) && units(held) == units(open_call.held),
          "held %s, the call held %s", held, open_call.held);
    tg_string_free(status);
    /* The pre-restart reservation settles its own call. */
    tg_settle_request done = {.reservation = open_call.reservation, .call_id = "c-after-reopen",
                              .duration = 30};
    tg_settlement st;
    EXPECT(e, tg_settle(e, &done, &st), TG_RESULT_OK);
    CHECK(st.client == alpha && !st.unreserved, "settled client %lld", (long long)st.client);
    tg_engine_close(e);
    return finish("api");
}
