/* password.c — see password.h.  L3 8.1.4.1a. */
#include "identity/password.h"

#include "crypto/suite.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const ih_common_passwords[];
extern const size_t ih_common_passwords_count;

static int cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static bool on_list(const char *lower)
{
    return lower[0] && bsearch(&lower, ih_common_passwords, ih_common_passwords_count, sizeof(char *), cmp) != NULL;
}

bool ih_password_is_common(const char *password)
{
    char low[IH_PW_MAX_LEN + 1];
    size_t n = strlen(password);
    if (n > IH_PW_MAX_LEN) return false;
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)password[i]);
    bool hit = on_list(low);
    /* The word inside: strip digits and symbols at both ends. */
    size_t a = 0, b = n;
    while (a < b && !isalpha((unsigned char)low[a])) a++;
    while (b > a && !isalpha((unsigned char)low[b - 1])) b--;
    if (!hit && b - a >= 4 && (a > 0 || b < n)) {
        low[b] = '\0';
        hit = on_list(low + a);
    }
    sodium_memzero(low, sizeof low);
    return hit;
}

static const char *const rows[] = {"qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "!@#$%^&*()"};

/* A run of 4: each next char is prev+1, prev-1, the same, or the neighbour on a keyboard row. */
static bool has_run(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + 3 < n; i++) {
        int c[4];
        for (int k = 0; k < 4; k++) c[k] = tolower((unsigned char)s[i + k]);
        bool up = true, down = true, same = true;
        for (int k = 1; k < 4; k++) {
            up &= c[k] == c[k - 1] + 1;
            down &= c[k] == c[k - 1] - 1;
            same &= c[k] == c[k - 1];
        }
        if ((up || down) && isalnum(c[0])) return true;
        if (same) return true;
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            char q[5] = {(char)c[0], (char)c[1], (char)c[2], (char)c[3], 0};
            char rev[5] = {(char)c[3], (char)c[2], (char)c[1], (char)c[0], 0};
            if (strstr(rows[r], q) || strstr(rows[r], rev)) return true;
        }
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
    long chars = 0;
    for (size_t i = 0; i < n; i++) chars += ((unsigned char)password[i] & 0xc0) != 0x80;
    if (n > IH_PW_MAX_LEN)
        return ih_reject(IH_E_WEAK_PASSWORD, field, "The password must be at most %d bytes.", IH_PW_MAX_LEN);
    if (chars < p->min_length)
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
    if (has_run(password))
        return ih_reject(IH_E_WEAK_PASSWORD, field,
                         "The password must not contain 4 or more sequential, repeated or keyboard-adjacent characters.");
    if (ih_password_is_common(password))
        return ih_reject(IH_E_WEAK_PASSWORD, field, "The password is too common.");
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
