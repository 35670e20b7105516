/* fuzz_inbound.c — an HL7 v2 message as the HIS sends it, read into what
 * the clinic takes (exchange/inbound.c, ih_inbound_map) and answered
 * (ih_inbound_ack): any bytes; a refusal always says why; every ACK parses
 * again with MSA-1 as given. */
#include "exchange/inbound.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ih_peer peer = {.name = "his", .charset = "UTF-8", .version = "2.4", .sending_app = "HIS",
                                 .receiving_app = "IHOS", .receiving_facility = "IH",
                                 .accept = "ADT^A04,ADT^A08,ADT^A28,ADT^A31,ADT^A40,ORU^R01,ADT^A01"};
    ih_hl7 *m;
    if (ih_hl7_parse((const char *)data, size, &m) != IH_OK) {
        ih_err_clear();
        return 0;
    }
    ih_his_msg msg;
    ih_inbound_text t = {0};
    char why[200] = "";
    ih_err e = ih_inbound_map(m, &peer, &msg, &t, why, sizeof why);
    if (e != IH_OK && !why[0] && e == IH_E_INVALID) abort(); /* a refusal names its reason */
    if (e == IH_OK && (!msg.type || !msg.control_id)) abort();
    const char *code = e == IH_OK ? "AA" : "AR";
    ih_buf ack = IH_BUF_INIT, v = IH_BUF_INIT;
    if (ih_inbound_ack(m, &peer, code, e == IH_OK ? "ok" : why, &ack) != IH_OK) abort();
    ih_hl7 *a;
    if (ih_hl7_parse(ack.p, ack.len, &a) != IH_OK) {
        fprintf(stderr, "unparseable ACK (%s): %s\n", ih_err_detail(), ack.p);
        abort();
    }
    if (!ih_hl7_value(a, "MSA", 1, 1, &v) || strcmp(v.p, code)) abort();
    ih_hl7_free(a);
    ih_buf_free(&v);
    ih_buf_free(&ack);
    ih_inbound_text_free(&t);
    ih_hl7_free(m);
    ih_err_clear();
    return 0;
}
