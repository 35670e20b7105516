-- wrk: a mixed journey per connection: the patient writes, the doctor reads
-- the visit and answers, both look things up.  IHOS_VISIT, IHOS_PATIENT,
-- IHOS_DOCTOR from bench/care_setup.py.
local visit = os.getenv("IHOS_VISIT")
local patient = "Bearer " .. os.getenv("IHOS_PATIENT")
local doctor = "Bearer " .. os.getenv("IHOS_DOCTOR")
local steps = {
  {"POST", "/api/v1/visits/" .. visit .. "/messages", patient, '{"body":"今天血压 140/90，需要调整吗？"}'},
  {"GET", "/api/v1/visits/" .. visit .. "?limit=20", doctor, nil},
  {"POST", "/api/v1/visits/" .. visit .. "/messages", doctor, '{"body":"继续原剂量，三天后复测。"}'},
  {"GET", "/api/v1/visits/" .. visit .. "?limit=20", patient, nil},
  {"GET", "/api/v1/drugs?limit=20&q=H00", doctor, nil},
  {"GET", "/api/v1/schedules", nil, nil},
  {"GET", "/api/v1/me", patient, nil},
  {"GET", "/api/v1/visits?limit=20", doctor, nil},
}
local i = 0
request = function()
  i = i % #steps + 1
  local s = steps[i]
  local h = {}
  if s[3] then h["Authorization"] = s[3] end
  if s[4] then h["Content-Type"] = "application/json" end
  return wrk.format(s[1], s[2], h, s[4])
end
