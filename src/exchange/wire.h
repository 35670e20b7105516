/* wire.h — the bytes of one MLLP connection, plain TCP or inside TLS: what
 * the listener (listener.h) and the sender (sender.h) both read and write.
 * The socket carries SO_RCVTIMEO, so a read returns "nothing yet" rather
 * than blocking for good; the caller decides how long to keep asking. */
#ifndef IH_EXCHANGE_WIRE_H
#define IH_EXCHANGE_WIRE_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read into buf (ssl NULL: plain fd): > 0 bytes, 0 closed, -1 error, -2
 * nothing within the socket's receive timeout. */
ssize_t ih_wire_read(int fd, SSL *ssl, uint8_t *buf, size_t n);
/* Write all n bytes; false when the connection broke. */
bool ih_wire_write(int fd, SSL *ssl, const void *p, size_t n);

#endif
