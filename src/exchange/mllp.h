/* mllp.h — the Minimal Lower Layer Protocol framing of HL7 v2 over TCP:
 * 0x0B, the message, 0x1C 0x0D.
 *
 * A framer is fed whatever each read returned — part of a frame, several
 * frames, junk between frames — and hands out each complete frame.  Bytes
 * outside a frame (a stray CR or LF between messages) are skipped.  A frame
 * longer than the limit is refused (IH_E_TOO_LARGE, reported once) and
 * skipped to its end, so the next frame is read again normally; a 0x1C not
 * followed by 0x0D, or a 0x0B inside a frame, makes that frame malformed
 * (IH_E_INVALID) and reading goes on from the next 0x0B.  The caller ACKs
 * AR for refused frames and decides whether to keep the connection.
 */
#ifndef IH_EXCHANGE_MLLP_H
#define IH_EXCHANGE_MLLP_H

#include "core/buf.h"
#include "core/err.h"

#include <stdbool.h>
#include <stdint.h>

#define IH_MLLP_START 0x0B
#define IH_MLLP_END 0x1C
#define IH_MLLP_CR 0x0D

typedef enum { IH_MLLP_OUTSIDE, IH_MLLP_IN, IH_MLLP_END_SEEN, IH_MLLP_SKIPPING } ih_mllp_state;

typedef struct ih_mllp {
    ih_buf frame;
    size_t max;
    ih_mllp_state state;
    ih_err skip_reason; /* why the frame being skipped was refused */
} ih_mllp;

/* A complete frame (payload without the framing bytes), or a refused one:
 * status IH_OK with the payload, IH_E_TOO_LARGE / IH_E_INVALID without.
 * Returning non-IH_OK stops the feed with that error. */
typedef ih_err (*ih_mllp_frame_fn)(void *ctx, ih_err status, const char *payload, size_t n);

void ih_mllp_init(ih_mllp *f, size_t max);
void ih_mllp_free(ih_mllp *f);
ih_err ih_mllp_feed(ih_mllp *f, const uint8_t *p, size_t n, ih_mllp_frame_fn fn, void *ctx);
/* Append the framed payload to out. */
ih_err ih_mllp_wrap(const void *payload, size_t n, ih_buf *out);

#endif
