-- Random-code request generator for wrk; BENCH_MODE picks the operation.
-- About 9 % of codes are unknown (one in eleven), as in the FHIRsmith yardstick runs.
local cpt = "http://www.ama-assn.org/go/cpt"
local known = {"72020", "72125", "72126", "72127", "72240", "72255", "72265", "72270",
               "62284", "62302", "62303", "62304", "62305", "72126:26", "62302:59", "72125:XS",
               "26", "59", "72127:26", "72240:26"}
local unknown = {"99999", "00000"}
local filters = {"cerv", "myelo", "contrast", "thoracic", "7212", "lumbo", "injection", "regions"}
local mode = os.getenv("BENCH_MODE") or "lookup"
local vs_all = "https://terminology.example.org/fhir/ValueSet/cpt-spine-all"

local function code()
  if math.random(11) == 1 then return unknown[math.random(#unknown)] end
  return known[math.random(#known)]
end

math.randomseed(42)

request = function()
  if mode == "lookup" then
    return wrk.format("GET", "/CodeSystem/$lookup?system=" .. cpt .. "&code=" .. code())
  elseif mode == "cs-validate" then
    return wrk.format("GET", "/CodeSystem/$validate-code?url=" .. cpt .. "&code=" .. code())
  elseif mode == "vs-validate" then
    local body = '{"resourceType":"Parameters","parameter":[{"name":"url","valueUri":"' .. vs_all ..
      '"},{"name":"system","valueUri":"' .. cpt .. '"},{"name":"code","valueCode":"' .. code() .. '"}]}'
    return wrk.format("POST", "/ValueSet/$validate-code", {["Content-Type"] = "application/fhir+json"}, body)
  elseif mode == "expand" then
    return wrk.format("GET", "/ValueSet/$expand?url=" .. vs_all .. "&count=10&filter=" .. filters[math.random(#filters)])
  end
  return wrk.format("GET", "/hello")
end
-- The harness appends the done() function that prints the RESULT line.
