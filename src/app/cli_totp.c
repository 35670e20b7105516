/* cli_totp.c — `ihos totp qr [URI]`: show an otpauth:// URI as a QR code in
 * the terminal (libqrencode), for enrolling an authenticator app from the
 * server console.  Reads the URI from stdin when not given, so it need not
 * appear in the shell history. */
#include "app/cli.h"

#include <qrencode.h>
#include <stdio.h>
#include <string.h>

static void print_qr(const QRcode *q)
{
    /* Two modules per line with half blocks; a quiet zone of 2 modules. */
    int w = q->width, margin = 2;
    for (int y = -margin; y < w + margin; y += 2) {
        for (int x = -margin; x < w + margin; x++) {
            int top = (y >= 0 && y < w && x >= 0 && x < w) ? q->data[y * w + x] & 1 : 0;
            int bot = (y + 1 >= 0 && y + 1 < w && x >= 0 && x < w) ? q->data[(y + 1) * w + x] & 1 : 0;
            /* dark modules print as spaces on a light block background */
            fputs(top && bot ? " " : top ? "\xe2\x96\x84" : bot ? "\xe2\x96\x80" : "\xe2\x96\x88", stdout);
        }
        fputc('\n', stdout);
    }
}

int ih_cli_totp(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "qr") || argc > 3) {
        fprintf(stderr, "usage: ihos totp qr [otpauth://...]   (reads the URI from stdin if absent)\n");
        return 2;
    }
    char uri[1024];
    if (argc == 3) snprintf(uri, sizeof uri, "%s", argv[2]);
    else if (!fgets(uri, sizeof uri, stdin)) return ih_cli_fail(IH_OK, "no URI on stdin");
    uri[strcspn(uri, "\r\n")] = '\0';
    if (strncmp(uri, "otpauth://", 10)) return ih_cli_fail(IH_OK, "not an otpauth:// URI"), 2;
    QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!q) return ih_cli_fail(IH_OK, "cannot encode the URI as a QR code");
    print_qr(q);
    QRcode_free(q);
    memset(uri, 0, sizeof uri);
    return 0;
}
