-- wrk script: POST the JSON body in $BENCH_BODY to the URL given on the command line
-- (a FHIR create) with Content-Type application/fhir+json.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local path = os.getenv("BENCH_BODY")
if not path then
  io.stderr:write("post.lua: set BENCH_BODY to the request body file\n")
  os.exit(2)
end
local file = assert(io.open(path, "rb"))
local body = file:read("*a")
file:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/fhir+json"
wrk.headers["Accept"] = "application/fhir+json"
-- carebridge is measured on its authenticated path: "Authorization: Bearer <token>".
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  local name, value = auth:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end
