/* wire.c — see wire.h. */
#include "exchange/wire.h"

#include <errno.h>
#include <openssl/err.h>
#include <sys/socket.h>

ssize_t ih_wire_read(int fd, SSL *ssl, uint8_t *buf, size_t n)
{
    if (!ssl) {
        ssize_t r = recv(fd, buf, n, 0);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return -2;
        return r;
    }
    ERR_clear_error();
    int r = SSL_read(ssl, buf, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    /* the receive timeout (SO_RCVTIMEO) shows as a retry: nothing yet */
    if (e == SSL_ERROR_WANT_READ || (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) return -2;
    return -1;
}

bool ih_wire_write(int fd, SSL *ssl, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w;
        if (ssl) {
            ERR_clear_error();
            int r = SSL_write(ssl, p, (int)n);
            w = r > 0 ? r : -1;
        } else
            w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}
