/* app.c — glue from configuration to services. */
#include "app/app.h"

void ih_app_identity_opts(const ih_instance *in, ih_identity_opts *o)
{
    const ih_conf *c = &in->conf;
    *o = (ih_identity_opts){
        .store = in->store,
        .keys = in->keys,
        .audit = in->audit,
        .pw = {c->password_min_length, c->password_min_classes, c->password_history, c->password_max_age_days},
        .hash = {(unsigned long long)c->argon2_iterations, (size_t)c->argon2_memory_kib * 1024},
        .hash_threads = c->hash_threads,
        .hash_queue = c->hash_queue,
        .lockout_threshold = c->lockout_threshold,
        .lockout_minutes = c->lockout_minutes,
        .ip_failures_per_minute = c->ip_failures_per_minute,
        .session_idle_minutes = c->session_idle_minutes,
        .session_max_hours = c->session_max_hours,
        .inactive_days = c->inactive_days,
        .issuer = c->name,
        .admin_allow = c->admin_allow,
    };
    ih_totp_alg_parse(c->totp_algorithm, &o->totp_alg);
}
