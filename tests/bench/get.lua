-- wrk script: GET the URL given on the command line (a read of one resource).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "GET"
wrk.headers["Accept"] = "application/fhir+json"
-- carebridge is measured on its authenticated path: "Authorization: Bearer <token>".
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  local name, value = auth:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
