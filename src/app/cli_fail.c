/* cli_fail.c — the CLI's one way of reporting a failure (cli.h). */
#include "app/cli.h"

#include <stdarg.h>
#include <stdbool.h>

int ih_cli_fail(ih_err e, const char *fmt, ...)
{
    va_list ap;
    fputs("ihos: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (e != IH_OK) {
        const char *d = ih_err_public()[0] ? ih_err_public() : ih_err_detail();
        if (d[0]) {
            /* One line, whatever a library put in its message. */
            fputs(": ", stderr);
            bool space = false;
            for (const char *p = d; *p; p++) {
                bool ws = *p == '\n' || *p == '\r' || *p == '\t' || *p == ' ';
                if (ws) space = true;
                else {
                    if (space && p != d) fputc(' ', stderr);
                    space = false;
                    fputc(*p, stderr);
                }
            }
        }
    }
    fputc('\n', stderr);
    return 1;
}
