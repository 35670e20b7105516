/* fuzz_ack.c — the answer a peer sends to what ihos delivered
 * (exchange/outbound.c, ih_outbound_ack): any bytes; accepted only with
 * AA or CA (MSA-2 is compared decoded: an escape the peer wrote in it — the
 * fuzzer found \H\ — reads as the same id); the peer's words always fit and
 * end. */
#include "exchange/outbound.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char code[3], text[160];
    ih_ack_kind k = ih_outbound_ack((const char *)data, size, "IHOS42", code, text, sizeof text);
    if (strnlen(text, sizeof text) == sizeof text) abort();
    if (k == IH_ACK_ACCEPTED && strcmp(code, "AA") && strcmp(code, "CA")) abort();
    if (k == IH_ACK_REFUSED && code[0] != 'A' && code[0] != 'C') abort();
    ih_err_clear();
    return 0;
}
