/* instance.c — see instance.h. */
#include "app/instance.h"

#include "core/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ih_err ih_instance_path(const ih_instance *in, const char *rel, char *out, size_t n)
{
    if (rel[0] == '/') return ih_path(out, n, "%s", rel);
    return ih_path(out, n, "%s/%s", in->dir, rel);
}

ih_err ih_instance_load(const char *dir, ih_instance *in, char *msg, size_t n)
{
    memset(in, 0, sizeof *in);
    char *abs = realpath(dir, NULL);
    if (!abs) {
        snprintf(msg, n, "%s: no such instance directory", dir);
        return ih_fail(IH_E_CONFIG, "%s", msg);
    }
    snprintf(in->dir, sizeof in->dir, "%s", abs);
    free(abs);
    char path[PATH_MAX];
    if (ih_path(path, sizeof path, "%s/ihos.conf", in->dir) != IH_OK) {
        snprintf(msg, n, "%s: path too long", dir);
        return IH_E_CONFIG;
    }
    ih_err e = ih_check_private(path);
    if (e != IH_OK) {
        snprintf(msg, n, "%s", ih_err_detail());
        return e;
    }
    return ih_conf_load(path, &in->conf, msg, n);
}

ih_err ih_instance_check_keys(const ih_instance *in)
{
    char path[PATH_MAX];
    IH_TRY(ih_instance_path(in, "keys", path, sizeof path));
    IH_TRY(ih_check_private(path));
    IH_TRY(ih_instance_path(in, "keys/kek", path, sizeof path));
    IH_TRY(ih_check_private(path));
    IH_TRY(ih_instance_path(in, in->conf.tls_key, path, sizeof path));
    return ih_check_private(path);
}

ih_err ih_instance_open_store(ih_instance *in)
{
    char db[PATH_MAX];
    ih_store_opts o = {.pool_size = in->conf.pool_size, .batch_max = in->conf.batch_max};
    if (!strcmp(in->conf.backend, "postgres")) {
        o.kind = IH_STORE_PG;
        o.pg_conninfo = in->conf.pg_url;
    } else {
        o.kind = IH_STORE_SQLITE;
        IH_TRY(ih_instance_path(in, in->conf.sqlite_path, db, sizeof db));
        o.sqlite_path = db;
    }
    IH_TRY(ih_store_open(&o, &in->store));
    ih_err e = ih_store_migrate(in->store, ih_schema, ih_schema_count);
    if (e != IH_OK) {
        ih_store_close(in->store);
        in->store = NULL;
    }
    return e;
}

void ih_instance_close(ih_instance *in)
{
    ih_store_close(in->store);
    in->store = NULL;
}
