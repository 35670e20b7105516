/* backups_api.c — GET/POST /api/v1/backups (sysadmin): list local backups,
 * take one now.  The backup is encrypted to the recovery key, which the
 * server does not hold, so this route can make backups but never read one. */
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

ih_err ih_api_backups_create(ih_app *app, ih_req *req, ih_resp *resp)
{
    ih_actor who;
    ih_api_actor(req, &who);
    ih_backup_info info;
    IH_TRY(ih_app_backup(app, &who, &info));
    const char *name = strrchr(info.path, '/');
    return ih_api_json(resp, 201, json_pack("{s:s, s:I, s:s}", "name", name ? name + 1 : info.path, "size",
                                            (json_int_t)info.size, "sha256", info.hash));
}
