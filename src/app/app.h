/* app.h — what request handlers get: the running server's shared state.
 *
 * Built once by ihosd at startup and read-only afterwards (members that
 * change carry their own synchronisation).
 */
#ifndef IH_APP_APP_H
#define IH_APP_APP_H

#include "app/instance.h"

#include <stdint.h>

typedef struct ih_app {
    ih_instance *inst;
    ih_store *store;
    const ih_conf *conf;
    int64_t started_ms;
} ih_app;

#endif
