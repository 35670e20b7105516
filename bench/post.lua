-- wrk script: POST to the given path with the bench session token.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IHOS_TOKEN")
wrk.headers["Content-Type"] = "application/json"
