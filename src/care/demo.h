/* demo.h — seed a synthetic hospital into an empty instance (see demo.c).
 * *credentials: [{"username","role","password","totp_secret"}] for every
 * demo account (patients have no second factor: null), for
 * demo-credentials.json.  Refuses an instance that already has staff. */
#ifndef IH_CARE_DEMO_H
#define IH_CARE_DEMO_H

#include "registry/clinic.h"

ih_err ih_demo_seed(ih_clinic *c, const ih_actor *operator, json_t **credentials);

#endif
