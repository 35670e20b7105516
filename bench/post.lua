-- wrk script: a request with a body (IHOS_METHOD, default POST; IHOS_BODY,
-- default none) on the given path, with the bench session token.
wrk.method = os.getenv("IHOS_METHOD") or "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IHOS_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("IHOS_BODY")
