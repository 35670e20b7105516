/* demo.h — seed a synthetic hospital into an empty instance (see demo.c).
 * *credentials: [{"username","role","password","totp_secret"}] for every
 * demo account (patients have no second factor: null), for
 * demo-credentials.json.  `patients` of them (IH_DEMO_PATIENTS_MIN to _MAX;
 * patient001… — the same people for the same count).  Refuses an instance
 * that already has staff. */
#ifndef IH_CARE_DEMO_H
#define IH_CARE_DEMO_H

#define IH_DEMO_PATIENTS 200
#define IH_DEMO_PATIENTS_MIN 10
#define IH_DEMO_PATIENTS_MAX 1000

#include "registry/clinic.h"

ih_err ih_demo_seed(ih_clinic *c, const ih_actor *operator, int patients, json_t **credentials);

#endif
