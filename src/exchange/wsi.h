/* wsi.h — a whole slide's pyramid as the PACS describes it (Orthanc's WSI
 * plugin, GET /wsi/pyramids/{series}), checked before the console is shown
 * it: the levels the viewer moves through and the tile grid it asks tiles
 * of.
 *
 * The description comes from outside and is trusted in nothing: 1–32
 * levels, finest first (none larger than the one before); each level's
 * size in pixels and its count of tiles, integers, at most 100,000 tiles a
 * side (the most ihos asks a tile of); the tile size — per level
 * ("TilesSizes", newer plugins) or the pyramid's ("TileWidth",
 * "TileHeight") — 1–16,384 pixels a side; and the tiles exactly cover the
 * level (count = ⌈size / tile⌉).  Anything else is IH_E_UNAVAILABLE (the
 * PACS's answer is not a pyramid), never a guess. */
#ifndef IH_EXCHANGE_WSI_H
#define IH_EXCHANGE_WSI_H

#include "core/err.h"

#include <jansson.h>

/* py: Orthanc's JSON; series: the series' UID, echoed.  *out:
 * {"series", "levels": [{"width", "height", "tiles_x", "tiles_y"}, ...],
 *  "tile_width", "tile_height"} (the finest level's tile size). */
ih_err ih_wsi_pyramid(const json_t *py, const char *series, json_t **out);

#endif
