-- wrk: audited, encrypted message writes into one visit (IHOS_TOKEN: the patient's session).
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("IHOS_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"body":"医生您好，我今天早上量的血压是 138/86，心率 72，昨晚睡得还可以。"}'
