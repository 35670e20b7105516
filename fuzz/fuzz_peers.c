/* fuzz_peers.c — the exchange peers file (exchange/peers.c via inih): any
 * text is a clear refusal or peers that keep the rules. */
#include "exchange/peers.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text) return 0;
    static ih_peers ps;
    char err[512];
    if (ih_peers_parse(text, "fuzz.conf", &ps, err, sizeof err) == IH_OK) {
        for (int i = 0; i < ps.n; i++) {
            const ih_peer *p = &ps.p[i];
            bool loop = (!p->address[0] || ih_peer_loopback(p->address)) && (!p->listen[0] || ih_peer_loopback(p->listen));
            if ((!p->address[0] && !p->listen[0]) || (!p->tls && !loop && !p->trusted_network) || !p->charset[0]) abort();
        }
    } else if (!err[0] || ps.n != 0) {
        abort(); /* a refusal always says why and leaves nothing */
    }
    ih_err_clear();
    free(text);
    return 0;
}
