/* fuzz_ack.c — the answer a peer sends to what ihos delivered
 * (exchange/outbound.c, ih_outbound_ack): any bytes; accepted only with
 * AA or CA (MSA-2 is compared decoded: an escape the peer wrote in it — the
 * fuzzer found \H\ — reads as the same id); the peer's words always fit and
 * end; the error code shown to operators is a token. */
#include "exchange/outbound.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ih_ack_reply r;
    ih_ack_kind k = ih_outbound_ack((const char *)data, size, "IHOS42", &r);
    if (strnlen(r.text, sizeof r.text) == sizeof r.text || strnlen(r.error, sizeof r.error) == sizeof r.error) abort();
    if (k == IH_ACK_ACCEPTED && strcmp(r.code, "AA") && strcmp(r.code, "CA")) abort();
    if (k == IH_ACK_REFUSED && r.code[0] != 'A' && r.code[0] != 'C') abort();
    /* what operators see of the peer's answer is a token, never its free text */
    for (const char *p = r.error; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_", *p)) abort();
    ih_err_clear();
    return 0;
}
