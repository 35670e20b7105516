/* mllp.c — see mllp.h. */
#include "exchange/mllp.h"

#include <string.h>

void ih_mllp_init(ih_mllp *f, size_t max)
{
    memset(f, 0, sizeof *f);
    f->max = max;
}

void ih_mllp_free(ih_mllp *f) { ih_buf_free(&f->frame); }

static ih_err refuse(ih_mllp *f, ih_err why, ih_mllp_frame_fn fn, void *ctx)
{
    ih_buf_reset(&f->frame);
    return fn(ctx, why, NULL, 0);
}

ih_err ih_mllp_feed(ih_mllp *f, const uint8_t *p, size_t n, ih_mllp_frame_fn fn, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        switch (f->state) {
        case IH_MLLP_OUTSIDE:
            if (c == IH_MLLP_START) {
                ih_buf_reset(&f->frame);
                f->state = IH_MLLP_IN;
            }
            break; /* anything else between frames is skipped */
        case IH_MLLP_SKIPPING:
            if (c == IH_MLLP_END) f->state = IH_MLLP_OUTSIDE;
            else if (c == IH_MLLP_START) { /* a new frame began: the skipped one ended without its trailer */
                ih_buf_reset(&f->frame);
                f->state = IH_MLLP_IN;
            }
            break;
        case IH_MLLP_IN: {
            /* copy the run up to the next framing byte at once */
            size_t j = i;
            while (j < n && p[j] != IH_MLLP_END && p[j] != IH_MLLP_START) j++;
            if (j > i) {
                if (f->frame.len + (j - i) > f->max) {
                    f->state = IH_MLLP_SKIPPING;
                    IH_TRY(refuse(f, IH_E_TOO_LARGE, fn, ctx));
                    i = j - 1;
                    break;
                }
                IH_TRY(ih_buf_append(&f->frame, p + i, j - i));
                i = j - 1;
                break;
            }
            if (c == IH_MLLP_END) f->state = IH_MLLP_END_SEEN;
            else { /* 0x0B inside a frame: that frame is malformed; a new one starts here */
                IH_TRY(refuse(f, IH_E_INVALID, fn, ctx));
                f->state = IH_MLLP_IN;
            }
            break;
        }
        case IH_MLLP_END_SEEN:
            if (c == IH_MLLP_CR) {
                f->state = IH_MLLP_OUTSIDE;
                IH_TRY(fn(ctx, IH_OK, f->frame.p ? f->frame.p : "", f->frame.len));
                ih_buf_reset(&f->frame);
            } else {
                f->state = c == IH_MLLP_START ? IH_MLLP_IN : IH_MLLP_OUTSIDE;
                IH_TRY(refuse(f, IH_E_INVALID, fn, ctx));
            }
            break;
        }
    }
    return IH_OK;
}

ih_err ih_mllp_wrap(const void *payload, size_t n, ih_buf *out)
{
    static const uint8_t start = IH_MLLP_START, end[2] = {IH_MLLP_END, IH_MLLP_CR};
    IH_TRY(ih_buf_append(out, &start, 1));
    IH_TRY(ih_buf_append(out, payload, n));
    return ih_buf_append(out, end, 2);
}
