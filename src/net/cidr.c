/* cidr.c — see cidr.h. */
#include "net/cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_addr(const char *s, uint8_t out[16])
{
    if (inet_pton(AF_INET, s, out) == 1) return 4;
    if (inet_pton(AF_INET6, s, out) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(out, mapped, 12)) {
            memmove(out, out + 12, 4);
            return 4;
        }
        return 6;
    }
    return 0;
}

ih_err ih_cidr_parse(const char *text, ih_cidr_list *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        if (!*p) break;
        char item[80];
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ') len--;
        if (len >= sizeof item || out->n >= IH_CIDR_MAX) return ih_fail(IH_E_CONFIG, "address list too long");
        memcpy(item, p, len);
        item[len] = '\0';
        p += strcspn(p, ",");
        char *slash = strchr(item, '/');
        int prefix = -1;
        if (slash) {
            *slash = '\0';
            char *end;
            long v = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || v < 0 || v > 128) return ih_fail(IH_E_CONFIG, "bad prefix in '%s'", item);
            prefix = (int)v;
        }
        int fam = parse_addr(item, out->e[out->n].addr);
        if (!fam) return ih_fail(IH_E_CONFIG, "'%s' is not an IP address", item);
        if (prefix < 0) prefix = fam == 4 ? 32 : 128;
        if ((fam == 4 && prefix > 32)) return ih_fail(IH_E_CONFIG, "bad IPv4 prefix /%d", prefix);
        out->e[out->n].family = fam;
        out->e[out->n].prefix = prefix;
        out->n++;
    }
    return IH_OK;
}

bool ih_cidr_match(const ih_cidr_list *l, const char *ip)
{
    uint8_t a[16];
    int fam = parse_addr(ip, a);
    if (!fam) return false;
    for (int i = 0; i < l->n; i++) {
        if (l->e[i].family != fam) continue;
        int bits = l->e[i].prefix, full = bits / 8, rest = bits % 8;
        if (memcmp(a, l->e[i].addr, (size_t)full)) continue;
        if (rest && ((a[full] ^ l->e[i].addr[full]) & (0xff << (8 - rest)))) continue;
        return true;
    }
    return false;
}
