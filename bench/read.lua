-- wrk: authorised, audited reads of a visit with its last 20 messages (IHOS_TOKEN: the doctor's session).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IHOS_TOKEN")
