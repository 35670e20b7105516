/* routes.c — the route table: every path, its method and its permission.
 * A route without a permission is denied by the dispatcher. */
#include "api/api.h"
#include "policy/perm.h"

#define R(m, pat, perm, fn) {m, pat, perm, 0, (const void *)(fn)}

const ih_route ih_api_routes[] = {
    R(IH_GET, "/healthz", IH_PERM_PUBLIC, ih_api_healthz),
    R(IH_GET, "/metrics", IH_PERM_METRICS, ih_api_metrics),

    R(IH_POST, "/api/v1/sessions", IH_PERM_PUBLIC, ih_api_login),
    R(IH_DELETE, "/api/v1/sessions/current", IH_PERM_SELF, ih_api_logout),

    R(IH_GET, "/api/v1/me", IH_PERM_SELF, ih_api_me),
    R(IH_POST, "/api/v1/me/password", IH_PERM_SELF, ih_api_me_password),
    R(IH_POST, "/api/v1/me/totp", IH_PERM_SELF, ih_api_me_totp_begin),
    R(IH_POST, "/api/v1/me/totp/confirm", IH_PERM_SELF, ih_api_me_totp_confirm),
    R(IH_GET, "/api/v1/me/sessions", IH_PERM_AUTHENTICATED, ih_api_me_sessions),
    R(IH_DELETE, "/api/v1/me/sessions/{}", IH_PERM_AUTHENTICATED, ih_api_me_session_revoke),

    R(IH_GET, "/api/v1/accounts", IH_PERM_ACCOUNT_READ, ih_api_accounts_list),
    R(IH_POST, "/api/v1/accounts", IH_PERM_ACCOUNT_CREATE, ih_api_accounts_create),
    R(IH_GET, "/api/v1/accounts/{}", IH_PERM_ACCOUNT_READ, ih_api_account_get),
    R(IH_POST, "/api/v1/accounts/{}/activate", IH_PERM_ROLE_ASSIGN, ih_api_account_activate),
    R(IH_PUT, "/api/v1/accounts/{}/role", IH_PERM_ROLE_ASSIGN, ih_api_account_role),
    R(IH_POST, "/api/v1/accounts/{}/disable", IH_PERM_ACCOUNT_MANAGE, ih_api_account_disable),
    R(IH_POST, "/api/v1/accounts/{}/enable", IH_PERM_ACCOUNT_MANAGE, ih_api_account_enable),
    R(IH_PUT, "/api/v1/accounts/{}/expiry", IH_PERM_ACCOUNT_MANAGE, ih_api_account_expiry),
    R(IH_POST, "/api/v1/accounts/{}/password-reset", IH_PERM_ACCOUNT_MANAGE, ih_api_account_password_reset),
    R(IH_POST, "/api/v1/accounts/{}/unlock", IH_PERM_ACCOUNT_UNLOCK, ih_api_account_unlock),
    R(IH_POST, "/api/v1/accounts/{}/totp-reset", IH_PERM_TOTP_RESET, ih_api_account_totp_reset),
    R(IH_POST, "/api/v1/admin-accounts/{}/disable", IH_PERM_ADMIN_MANAGE, ih_api_admin_disable),
    R(IH_POST, "/api/v1/admin-accounts/{}/enable", IH_PERM_ADMIN_MANAGE, ih_api_admin_enable),

    R(IH_GET, "/api/v1/permissions", IH_PERM_PERM_GRANT, ih_api_permissions_list),
    R(IH_PUT, "/api/v1/roles/{}/permissions/{}", IH_PERM_PERM_GRANT, ih_api_permission_set),

    R(IH_GET, "/api/v1/audit/events", IH_PERM_AUDIT_READ, ih_api_audit_events),
    R(IH_GET, "/api/v1/audit/checkpoints", IH_PERM_AUDIT_READ, ih_api_audit_checkpoints),
    R(IH_POST, "/api/v1/audit/verify", IH_PERM_AUDIT_VERIFY, ih_api_audit_verify),
    R(IH_GET, "/api/v1/audit/export", IH_PERM_AUDIT_EXPORT, ih_api_audit_export),

    R(IH_GET, "/api/v1/backups", IH_PERM_BACKUP_RUN, ih_api_backups_list),
    R(IH_POST, "/api/v1/backups", IH_PERM_BACKUP_RUN, ih_api_backups_create),
};

const size_t ih_api_nroutes = sizeof ih_api_routes / sizeof ih_api_routes[0];
