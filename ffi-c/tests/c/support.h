/* Helpers shared by the C test programs: checks that count failures, a tiny JSON field
 * reader (enough for the envelopes these tests read), exact decimal arithmetic on amounts,
 * and provisioning of a client through tg_call. */
#ifndef TG_TEST_SUPPORT_H
#define TG_TEST_SUPPORT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tollgate.h"

static int failures;
static int checks;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        checks++;                                                                \
        if (!(cond)) {                                                           \
            failures++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* A call must return `expected`; on a mismatch print both codes and the last error. */
#define EXPECT(engine, call, expected)                                           \
    do {                                                                         \
        tg_result r_ = (call);                                                   \
        CHECK(r_ == (tg_result)(expected), "%s returned %u (%s), wanted %u (%s): %s", #call, \
              (unsigned)r_, tg_result_code(r_), (unsigned)(expected),            \
              tg_result_code(expected), tg_engine_last_error(engine));           \
    } while (0)

static inline int finish(const char *name) {
    if (failures) {
        fprintf(stderr, "%s: %d of %d checks failed\n", name, failures, checks);
        return 1;
    }
    printf("%s: %d checks passed\n", name, checks);
    return 0;
}

/* Copy the value of the first `"key":` in `json` into `out`: a string without its quotes,
 * or a number/literal as written. Returns 0 when the key is absent or the value too long. */
static inline int json_field(const char *json, const char *key, char *out, size_t len) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(json, pattern);
    if (!p) return 0;
    p += strlen(pattern);
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && p[n] != '"') n++;
    } else {
        while (p[n] && p[n] != ',' && p[n] != '}' && p[n] != ']') n++;
    }
    if (n + 1 > len) return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static inline long long json_int(const char *json, const char *key) {
    char buf[64];
    return json_field(json, key, buf, sizeof buf) ? strtoll(buf, NULL, 10) : -1;
}

/* An amount as an exact integer count of 1e-8 units ("12.3456" -> 1234560000). Aborts on
 * text that is not a decimal with at most 8 places: these tests never use doubles. */
#define UNITS_SCALE 8
static inline long long units(const char *text) {
    const char *p = text;
    int neg = 0;
    if (*p == '-') { neg = 1; p++; }
    long long whole = 0, frac = 0;
    int places = 0;
    if (!*p) { fprintf(stderr, "not an amount: '%s'\n", text); abort(); }
    for (; *p && *p != '.'; p++) {
        if (*p < '0' || *p > '9') { fprintf(stderr, "not an amount: '%s'\n", text); abort(); }
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p; p++, places++) {
            if (*p < '0' || *p > '9' || places >= UNITS_SCALE) {
                fprintf(stderr, "not an amount with <= 8 places: '%s'\n", text);
                abort();
            }
            frac = frac * 10 + (*p - '0');
        }
    }
    for (; places < UNITS_SCALE; places++) frac *= 10;
    long long v = whole * 100000000LL + frac;
    return neg ? -v : v;
}

/* Call a method that must succeed; returns the envelope (free with tg_string_free). */
static inline char *must_call(tg_engine *e, const char *method, const char *fmt, ...) {
    char params[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(params, sizeof params, fmt, ap);
    va_end(ap);
    char *env = NULL;
    tg_result r = tg_call(e, method, params, &env);
    if (r != TG_RESULT_OK || !env || !strstr(env, "\"code\":true")) {
        fprintf(stderr, "%s %s failed: %s %s\n", method, params, tg_result_code(r),
                env ? env : tg_engine_last_error(e));
        exit(2);
    }
    return env;
}

/* Call a method that must succeed and return the "id" it made. */
static inline long long must_add(tg_engine *e, const char *method, const char *fmt, ...) {
    char params[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(params, sizeof params, fmt, ap);
    va_end(ap);
    char *env = must_call(e, method, "%s", params);
    long long id = json_int(env, "id");
    tg_string_free(env);
    if (id <= 0) {
        fprintf(stderr, "%s returned no id\n", method);
        exit(2);
    }
    return id;
}

#define ADMIN "admin"
#define ADMIN_PASSWORD "admin-password-1"

/* The rate deck of every test: 447 (UK mobile) at 0.60/min in 6-second steps after a
 * 30-second minimum, 0.01 setup fee; 44 at 0.05/min per second. */
#define DECK                                                                                  \
    "code,code_name,rate,min_volume,interval,grace_volume,setup_fee,effective_from,effective_till\\n" \
    "447,United Kingdom - Mobile,0.6,30,6,0,0.01,2020-01-01,\\n"                            \
    "44,United Kingdom,0.05,1,1,0,0,2020-01-01,\\n"

/* Log in as the administrator; writes the session id to `sid` (64 bytes). */
static inline void login(tg_engine *e, char *sid) {
    char *env = must_call(e, "auth.login", "{\"auth\":{\"login\":\"" ADMIN "\",\"password\":\"" ADMIN_PASSWORD "\"}}");
    if (!json_field(env, "session_id", sid, 64)) {
        fprintf(stderr, "no session id in %s\n", env);
        exit(2);
    }
    tg_string_free(env);
}

/* A rate table with DECK; returns its id. */
static inline long long add_rate_table(tg_engine *e, const char *sid) {
    long long table = must_add(e, "rateTables.add",
                               "{\"SID\":\"%s\",\"name\":\"Retail\",\"rounding\":\"half_up\"}", sid);
    tg_string_free(must_call(e, "rates.import", "{\"SID\":\"%s\",\"id_rate_tables\":%lld,\"csv\":\"" DECK "\"}",
                             sid, table));
    return table;
}

/* A client on `table` with an ANI account `ani` and a payment of `amount` (NULL for none);
 * returns the client id. */
static inline long long add_client(tg_engine *e, const char *sid, long long table, const char *name,
                            const char *ani, const char *amount) {
    long long client = must_add(e, "clients.add",
                                "{\"SID\":\"%s\",\"name\":\"%s\",\"orig_rate_table\":%lld}", sid,
                                name, table);
    tg_string_free(must_call(e, "accounts.add",
                             "{\"SID\":\"%s\",\"id_clients\":%lld,\"name\":\"%s trunk\","
                             "\"auth_type\":\"ani\",\"ident\":\"%s\"}",
                             sid, client, name, ani));
    if (amount) {
        tg_string_free(must_call(e, "transactions.add",
                                 "{\"SID\":\"%s\",\"id_clients\":%lld,\"type\":\"payment\",\"amount\":\"%s\"}",
                                 sid, client, amount));
    }
    return client;
}

/* A client's stored balance as 1e-8 units, read through clients.editForm. */
static inline long long balance_units(tg_engine *e, const char *sid, long long client) {
    char *env = must_call(e, "clients.editForm", "{\"SID\":\"%s\",\"id_clients\":%lld}", sid, client);
    char buf[64];
    if (!json_field(env, "balance", buf, sizeof buf)) {
        fprintf(stderr, "no balance in %s\n", env);
        exit(2);
    }
    tg_string_free(env);
    return units(buf);
}

#endif
