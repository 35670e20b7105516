/* wsi.c — see wsi.h. */
#include "exchange/wsi.h"

#include <stdbool.h>
#include <stdint.h>

#define MAX_LEVELS 32
#define MAX_TILES 100000 /* a side: ih_pacs_wsi_tile asks for x, y up to this */
#define MAX_TILE 16384   /* pixels a side of one tile */

/* Item i of array a as a pair of integers, each in [1, max]. */
static bool pair(const json_t *a, size_t i, json_int_t max, json_int_t *x, json_int_t *y)
{
    const json_t *p = json_array_get(a, i);
    const json_t *px = json_array_get(p, 0), *py = json_array_get(p, 1);
    if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(px) || !json_is_integer(py)) return false;
    *x = json_integer_value(px);
    *y = json_integer_value(py);
    return *x >= 1 && *x <= max && *y >= 1 && *y <= max;
}

/* The least count of tiles of side t covering n pixels. */
static json_int_t cover(json_int_t n, json_int_t t) { return n / t + (n % t != 0); }

ih_err ih_wsi_pyramid(const json_t *py, const char *series, json_t **out)
{
    *out = NULL;
    const json_t *sizes = json_object_get(py, "Sizes"), *counts = json_object_get(py, "TilesCount");
    const json_t *tsizes = json_object_get(py, "TilesSizes"); /* optional: per level */
    const json_t *tw0 = json_object_get(py, "TileWidth"), *th0 = json_object_get(py, "TileHeight");
    size_t n = json_array_size(sizes);
    if (!json_is_array(sizes) || n < 1 || n > MAX_LEVELS || !json_is_array(counts) || json_array_size(counts) != n ||
        (tsizes && (!json_is_array(tsizes) || json_array_size(tsizes) != n)) ||
        (!tsizes && (!json_is_integer(tw0) || !json_is_integer(th0))))
        return ih_fail(IH_E_UNAVAILABLE, "the PACS's pyramid of %s is not one: no levels, their counts differ, or no tile size",
                       series);
    json_t *levels = json_array();
    if (!levels) return ih_fail(IH_E_NOMEM, "wsi");
    json_int_t first_tw = 0, first_th = 0, pw = INT64_MAX, ph = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        json_int_t w, h, tx, ty, tw = json_integer_value(tw0), th = json_integer_value(th0);
        bool ok = pair(sizes, i, INT32_MAX, &w, &h) && pair(counts, i, MAX_TILES, &tx, &ty) &&
                  (tsizes ? pair(tsizes, i, MAX_TILE, &tw, &th) : (tw >= 1 && tw <= MAX_TILE && th >= 1 && th <= MAX_TILE));
        if (!ok || w > pw || h > ph || tx != cover(w, tw) || ty != cover(h, th)) {
            json_decref(levels);
            return ih_fail(IH_E_UNAVAILABLE,
                           "the PACS's pyramid of %s is not one: level %zu's size, tiles or order is not possible", series,
                           i);
        }
        if (i == 0) first_tw = tw, first_th = th;
        pw = w, ph = h;
        json_t *l = json_pack("{s:I, s:I, s:I, s:I}", "width", w, "height", h, "tiles_x", tx, "tiles_y", ty);
        if (!l || json_array_append_new(levels, l)) {
            json_decref(levels);
            return ih_fail(IH_E_NOMEM, "wsi");
        }
    }
    *out = json_pack("{s:s, s:O, s:I, s:I}", "series", series, "levels", levels, "tile_width", first_tw, "tile_height",
                     first_th);
    json_decref(levels);
    return *out ? IH_OK : ih_fail(IH_E_NOMEM, "wsi");
}
