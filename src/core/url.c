/* url.c — see url.h. */
#include "core/url.h"

#include <string.h>

size_t ih_url_host(const char *url, const char **host)
{
    const char *p = strstr(url, "://");
    const char *h = p ? p + 3 : url;
    const char *end = h + strcspn(h, "/?#");
    const char *at = memchr(h, '@', (size_t)(end - h));
    if (at) h = at + 1;
    const char *stop;
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        stop = close ? close + 1 : end;
    } else {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        stop = colon ? colon : end;
    }
    *host = h;
    return (size_t)(stop - h);
}

bool ih_host_loopback(const char *h, size_t n)
{
    return (n >= 4 && !strncmp(h, "127.", 4)) || (n == 9 && !strncmp(h, "localhost", 9)) ||
           (n == 5 && !strncmp(h, "[::1]", 5)) || (n == 3 && !strncmp(h, "::1", 3));
}
