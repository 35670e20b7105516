/* clock.c — real and injected clocks (see clock.h). */
#include "core/clock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static _Atomic(ih_clock_fn) clock_fn;
static void *_Atomic clock_ctx;

void ih_clock_set(ih_clock_fn fn, void *ctx)
{
    atomic_store(&clock_ctx, ctx);
    atomic_store(&clock_fn, fn);
}

int64_t ih_now_ms(void)
{
    ih_clock_fn fn = atomic_load(&clock_fn);
    if (fn) return fn(atomic_load(&clock_ctx));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ih_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (the
 * era-based conversion in H. Hinnant's "chrono-compatible low-level date
 * algorithms"); pure arithmetic, so no gmtime_r and its time-zone lock on
 * the response path. */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
}

void ih_time_iso(int64_t ms, char *out, size_t n)
{
    int64_t msec = ms % 1000, secs = ms / 1000;
    if (msec < 0) {
        msec += 1000;
        secs--;
    }
    int64_t days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil(days, &y, &m, &d);
    if (n < 25 || y < 0 || y > 9999) {
        snprintf(out, n, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m, d, (int)(sod / 3600),
                 (int)(sod / 60 % 60), (int)(sod % 60), (int)msec);
        return;
    }
    memcpy(out, "0000-00-00T00:00:00.000Z", 25);
    put_digits(out, y, 4);
    put_digits(out + 5, m, 2);
    put_digits(out + 8, d, 2);
    put_digits(out + 11, sod / 3600, 2);
    put_digits(out + 14, sod / 60 % 60, 2);
    put_digits(out + 17, sod % 60, 2);
    put_digits(out + 20, msec, 3);
}

void ih_time_beijing(int64_t ms, char *out, size_t n)
{
    time_t s = (time_t)(ms / 1000) + 8 * 3600;
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

static int parse_ymd(const char *s, struct tm *tm)
{
    int y, m, d;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m) || s[7] != '-' ||
        digits(s + 8, 2, &d))
        return -1;
    if (y < 1900 || y > 9999 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return 0;
}

int ih_date_parse(const char *s, int64_t *ms)
{
    struct tm tm;
    if (!s || strlen(s) != 10 || parse_ymd(s, &tm)) return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

int ih_time_parse_iso(const char *s, int64_t *ms)
{
    struct tm tm;
    size_t n = s ? strlen(s) : 0;
    int hh, mi, ss, frac = 0;
    if (n < 20 || parse_ymd(s, &tm) || s[10] != 'T' || digits(s + 11, 2, &hh) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &ss))
        return -1;
    if (hh > 23 || mi > 59 || ss > 59) return -1;
    const char *rest = s + 19;
    if (*rest == '.') {
        if (digits(rest + 1, 3, &frac)) return -1;
        rest += 4;
    }
    if (strcmp(rest, "Z") != 0) return -1;
    tm.tm_hour = hh;
    tm.tm_min = mi;
    tm.tm_sec = ss;
    *ms = (int64_t)timegm(&tm) * 1000 + frac;
    return 0;
}

int64_t ih_backoff_ms(int64_t attempts, int64_t max_ms)
{
    int64_t b = 1000LL << (attempts > 20 ? 20 : attempts < 1 ? 0 : attempts - 1);
    if (b > max_ms) b = max_ms;
    if (b < 1) b = 1;
    uint32_t rnd = 0; /* jitter needs no secret randomness; a failed read means none */
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) rnd = 0;
    return b * 8 / 10 + (int64_t)(rnd % (uint32_t)(b * 4 / 10 + 1));
}
