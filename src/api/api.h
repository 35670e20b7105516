/* api.h — the JSON API: route table and dispatcher.
 *
 * ih_api_handle() is the server's request handler.  For each request it
 * finds the route (404/405 otherwise), enforces the route's declared
 * permission (undeclared = denied), runs the handler and turns a returned
 * error into the JSON envelope {"error":{"code","message"}}.  Handlers write
 * only success bodies; they never format errors themselves.
 */
#ifndef IH_API_API_H
#define IH_API_API_H

#include "app/app.h"
#include "net/http.h"
#include "net/router.h"

typedef ih_err (*ih_api_fn)(ih_app *app, ih_req *req, ih_resp *resp);

void ih_api_handle(void *app, ih_req *req, ih_resp *resp);

extern const ih_route ih_api_routes[];
extern const size_t ih_api_nroutes;

/* Handlers (one file per resource). */
ih_err ih_api_healthz(ih_app *app, ih_req *req, ih_resp *resp);
ih_err ih_api_metrics(ih_app *app, ih_req *req, ih_resp *resp);

/* Helpers shared by handlers. */
bool ih_api_is_loopback(const ih_req *req);

#endif
