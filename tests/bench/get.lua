-- wrk script: GET the URL given on the command line (a read of one resource).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

wrk.method = "GET"
wrk.headers["Accept"] = "application/fhir+json"
