/* backups_api.c — GET/POST /api/v1/backups (sysadmin): list local backups,
 * take one now.  The backup is encrypted to the recovery key, which the
 * server does not hold, so this route can make backups but never read one.
 * Taking one is a long operation: GET /api/v1/backups/runs/ID answers for it. */
#include "api/api.h"

#include "app/backups.h"

#include <string.h>

ih_err ih_api_backups_list(ih_app *app, ih_req *req, ih_resp *resp)
{
    (void)req;
    json_t *list;
    IH_TRY(ih_app_backup_list(app, &list));
    return ih_api_json(resp, 200, json_pack("{s:o}", "backups", list));
}

/* A backup reads the whole database (and verifies the journal first): a
 * long operation (ops_api.c), 201 with the file when it is there. */
static ih_err backup_op(void *arg, const ih_actor *who, int *status, json_t **body)
{
    ih_app *app = arg;
    ih_backup_info info;
    IH_TRY(ih_app_backup(app, who, &info));
    const char *name = strrchr(info.path, '/');
    *status = 201;
    *body = json_pack("{s:s, s:I, s:s}", "name", name ? name + 1 : info.path, "size", (json_int_t)info.size, "sha256",
                      info.hash);
    return *body ? IH_OK : ih_fail(IH_E_NOMEM, "out of memory");
}

ih_err ih_api_backups_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_op_begin(app, req, resp, "backup", "/api/v1/backups", backup_op, app, NULL);
}

ih_err ih_api_backup_run(ih_app *app, ih_req *req, ih_resp *resp)
{
    return ih_api_op_get(app, req, resp, "backup", "/api/v1/backups");
}
