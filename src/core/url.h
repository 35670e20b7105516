/* url.h — the parts of a configured address that evidence may show.
 *
 * A URL in the configuration can carry a token (user info, a query), so
 * reports name only its scheme and host.  And whether a host is this
 * machine decides whether plaintext is acceptable on a link.
 */
#ifndef IH_CORE_URL_H
#define IH_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* The host of scheme://[user@]host[:port][/…] (or of host[:port] without a
 * scheme): *host points into url, the length is returned (0: none).  IPv6
 * hosts keep their brackets. */
size_t ih_url_host(const char *url, const char **host);
/* 127.0.0.0/8, localhost or ::1 (bracketed or not). */
bool ih_host_loopback(const char *host, size_t n);

#endif
