-- Argo CD health check of a ChatmailRelay (chatmail.at/v1alpha1), from the
-- kstatus-style status chatmail-operator writes: observedGeneration and the
-- conditions Ready, Progressing and Degraded.
local hs = { status = "Progressing", message = "Waiting for chatmail-operator" }
if obj.status == nil then
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.message = "chatmail-operator has not reconciled the latest spec yet"
  return hs
end
local cond = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    cond[c.type] = c
  end
end
local function text(c)
  return c.message or c.reason or c.type
end
if cond.Degraded ~= nil and cond.Degraded.status == "True" then
  return { status = "Degraded", message = text(cond.Degraded) }
end
if obj.spec ~= nil and obj.spec.paused == true then
  return { status = "Suspended", message = "spec.paused is set" }
end
if cond.Ready ~= nil and cond.Ready.status == "True" then
  return { status = "Healthy", message = text(cond.Ready) }
end
if cond.Progressing ~= nil and cond.Progressing.status == "True" then
  return { status = "Progressing", message = text(cond.Progressing) }
end
if cond.Ready ~= nil then
  hs.message = text(cond.Ready)
end
return hs
