/* password.c — see password.h.  L3 8.1.4.1a. */
#include "identity/password.h"

#include "crypto/suite.h"

#include <ctype.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const ih_common_passwords[];
extern const size_t ih_common_passwords_count;
extern const char *const ih_weak_words[];
extern const size_t ih_weak_words_count;

static int cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static bool in(const char *const *list, size_t n, const char *lower)
{
    return lower[0] && bsearch(&lower, list, n, sizeof(char *), cmp) != NULL;
}

static bool on_list(const char *lower) { return in(ih_common_passwords, ih_common_passwords_count, lower); }

/* Common substitutions for letters (P@ssw0rd), undone only between letters. */
static char unleet(char c)
{
    switch (c) {
    case '@': case '4': return 'a';
    case '8': return 'b';
    case '3': return 'e';
    case '9': return 'g';
    case '1': case '!': case '|': return 'i';
    case '0': return 'o';
    case '$': case '5': return 's';
    case '7': case '+': return 't';
    case '2': return 'z';
    default: return c;
    }
}

/* The letters of low (lower-case ASCII) alone, and with substitutions
 * between letters undone: "huawei@123" -> "huawei"; "p@ssw0rd" -> "password". */
static void letter_cores(const char *low, char *plain, char *unleeted)
{
    size_t n = strlen(low), a = 0, b = n, p = 0, u = 0;
    while (a < b && !isalpha((unsigned char)low[a])) a++;
    while (b > a && !isalpha((unsigned char)low[b - 1])) b--;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)low[i];
        if (isalpha(c)) plain[p++] = (char)c;
        char d = isalpha(c) ? (char)c : unleet((char)c);
        if (isalpha((unsigned char)d)) unleeted[u++] = d;
    }
    plain[p] = unleeted[u] = '\0';
}

static bool weak_word(const char *w)
{
    return strlen(w) >= 3 && (on_list(w) || in(ih_weak_words, ih_weak_words_count, w));
}

bool ih_password_is_common(const char *password)
{
    char low[IH_PW_MAX_LEN + 1], plain[IH_PW_MAX_LEN + 1], unleeted[IH_PW_MAX_LEN + 1];
    size_t n = strlen(password);
    if (n > IH_PW_MAX_LEN) return false;
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)password[i]);
    bool hit = on_list(low);
    /* The word inside: strip digits and symbols at both ends. */
    size_t a = 0, b = n;
    while (a < b && !isalpha((unsigned char)low[a])) a++;
    while (b > a && !isalpha((unsigned char)low[b - 1])) b--;
    if (!hit && b - a >= 4 && (a > 0 || b < n)) {
        char c = low[b];
        low[b] = '\0';
        hit = on_list(low + a);
        low[b] = c;
    }
    /* Only a guessable word once digits and symbols are taken out. */
    if (!hit) {
        letter_cores(low, plain, unleeted);
        hit = weak_word(plain) || weak_word(unleeted);
    }
    sodium_memzero(low, sizeof low);
    sodium_memzero(plain, sizeof plain);
    sodium_memzero(unleeted, sizeof unleeted);
    return hit;
}

/* UTF-8 into code points; a byte that does not start a valid sequence
 * stands for itself.  Returns how many. */
static size_t code_points(const char *s, uint32_t *out, size_t cap)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n < cap) {
        uint32_t c = *p;
        int more = c >= 0xf0 && c < 0xf8 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
        if (c >= 0xf8) more = 0;
        int k = 1;
        if (more) {
            uint32_t v = c & (0x3f >> more);
            for (; k <= more && (p[k] & 0xc0) == 0x80; k++) v = v << 6 | (p[k] & 0x3f);
            if (k == more + 1) c = v;
            else k = 1;
        }
        out[n++] = c;
        p += k;
    }
    return n;
}

/* Where a character sits on a US keyboard (row, column; shifted or not),
 * rows staggered so that a key touches (r+1, c) and (r+1, c-1) below it. */
static bool key_at(uint32_t c, int *row, int *col)
{
    static const char *const plain[] = {"`1234567890-=", " qwertyuiop[]\\", " asdfghjkl;'", " zxcvbnm,./"};
    static const char *const shifted[] = {"~!@#$%^&*()_+", " QWERTYUIOP{}|", " ASDFGHJKL:\"", " ZXCVBNM<>?"};
    if (c <= ' ' || c >= 0x7f) return false;
    for (int r = 0; r < 4; r++) {
        const char *q = strchr(plain[r], (int)c);
        if (!q) q = strchr(shifted[r], (int)c), q = q ? plain[r] + (q - shifted[r]) : NULL;
        if (q) {
            *row = r;
            *col = (int)(q - plain[r]);
            return true;
        }
    }
    return false;
}

/* Four keys in a straight line on the keyboard, along a row, down a column
 * or the other diagonal: qwer, 1qaz, @WSX, zaq1, 7yhn. */
static bool keyboard_walk(const uint32_t *c)
{
    int r[4], k[4];
    for (int i = 0; i < 4; i++)
        if (!key_at(c[i], &r[i], &k[i])) return false;
    int dr = r[1] - r[0], dc = k[1] - k[0];
    bool step = (dr == 0 && (dc == 1 || dc == -1)) || (dr == 1 && (dc == 0 || dc == -1)) ||
                (dr == -1 && (dc == 0 || dc == 1));
    if (!step) return false;
    for (int i = 2; i < 4; i++)
        if (r[i] - r[i - 1] != dr || k[i] - k[i - 1] != dc) return false;
    return true;
}

/* A run of 4 code points: sequential (abcd, 4321), repeated (aaaa, éééé),
 * or a straight keyboard walk. */
static bool has_run(const uint32_t *c, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        uint32_t l[4];
        for (int k = 0; k < 4; k++) l[k] = c[i + k] < 0x80 ? (uint32_t)tolower((int)c[i + k]) : c[i + k];
        bool up = true, down = true, same = true;
        for (int k = 1; k < 4; k++) {
            up &= l[k] == l[k - 1] + 1;
            down &= l[k] + 1 == l[k - 1];
            same &= l[k] == l[k - 1];
        }
        if ((up || down) && l[0] < 0x80 && isalnum((int)l[0])) return true;
        if (same || keyboard_walk(c + i)) return true;
    }
    return false;
}

/* The whole password one shorter piece repeated (Ab1!Ab1!). */
static bool repeats(const uint32_t *c, size_t n)
{
    for (size_t p = 1; p <= n / 2; p++) {
        if (n % p) continue;
        size_t i = p;
        while (i < n && c[i] == c[i - p]) i++;
        if (i == n) return true;
    }
    return false;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0) return false;
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0) return true;
    return false;
}

ih_err ih_password_check(const ih_pw_policy *p, const char *username, const char *password, const char *field)
{
    size_t n = strlen(password);
    if (n > IH_PW_MAX_LEN)
        return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must be at most %d bytes.", IH_PW_MAX_LEN);
    uint32_t cp[IH_PW_MAX_LEN];
    size_t chars = code_points(password, cp, IH_PW_MAX_LEN);
    if ((long)chars < p->min_length)
        return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must be at least %d characters long.",
                         p->min_length);
    int lower = 0, upper = 0, digit = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)password[i];
        if (c < 0x20 || c == 0x7f)
            return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must not contain control characters.");
        if (islower(c)) lower = 1;
        else if (isupper(c)) upper = 1;
        else if (isdigit(c)) digit = 1;
        else other = 1;
    }
    if (lower + upper + digit + other < p->min_classes)
        return ih_reject(IH_E_WEAK_PASSWORD, field,
                         "The password must mix at least %d of: lower-case letters, upper-case letters, digits, "
                         "other characters.", p->min_classes);
    if (username && contains_ci(password, username))
        return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must not contain the username.");
    bool run = has_run(cp, chars), rep = repeats(cp, chars);
    sodium_memzero(cp, sizeof cp);
    if (run)
        return ih_reject(IH_E_WEAK_PASSWORD, field,
                         "The password must not contain 4 or more sequential, repeated or keyboard-adjacent characters.");
    if (rep) return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must not be one short piece repeated.");
    if (ih_password_is_common(password))
        return ih_reject(IH_E_WEAK_PASSWORD, field,
                         "The password is too common: a common password, place, company or word with digits and "
                         "symbols added.");
    return IH_OK;
}

ih_err ih_password_hash(const ih_pw_params *p, const char *password, char out[IH_PW_HASH_MAX])
{
    if (crypto_pwhash_str_alg(out, password, strlen(password), p->opslimit, p->memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return ih_fail(IH_E_NOMEM, "argon2id: out of memory");
    return IH_OK;
}

bool ih_password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool ih_password_needs_rehash(const ih_pw_params *p, const char *hash)
{
    return crypto_pwhash_str_needs_rehash(hash, p->opslimit, p->memlimit) != 0;
}

ih_err ih_password_generate(char *out, size_t len)
{
    static const char *const sets[4] = {"abcdefghjkmnpqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "-_.!@#%+="};
    if (len < 12) return ih_fail(IH_E_INTERNAL, "generated passwords are at least 12 characters");
    for (int attempt = 0; attempt < 100; attempt++) {
        for (size_t i = 0; i < len; i++) {
            const char *set = sets[i < 4 ? i : randombytes_uniform(4)];
            out[i] = set[randombytes_uniform((uint32_t)strlen(set))];
        }
        out[len] = '\0';
        /* shuffle so the class order is not fixed */
        for (size_t i = len - 1; i > 0; i--) {
            size_t j = randombytes_uniform((uint32_t)(i + 1));
            char t = out[i];
            out[i] = out[j];
            out[j] = t;
        }
        ih_pw_policy p = {12, 4, 5, 90};
        if (ih_password_check(&p, NULL, out, "password") == IH_OK) return IH_OK;
    }
    return ih_fail(IH_E_INTERNAL, "could not generate a password");
}
