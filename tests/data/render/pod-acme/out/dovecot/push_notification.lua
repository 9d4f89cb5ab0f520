-- Dovecot LMTP push hook of a chatmail relay, rendered by chatmail-operator.
function dovecot_lua_notify_begin_txn(user)
  return user
end

function dovecot_lua_notify_event_message_new(user, event)
  local mbox = user:mailbox(event.mailbox)
  mbox:sync()

  if user.username ~= event.from_address then
    -- incoming message: the metadata write makes
    -- chatmail-metadata send a push notification
    mbox:metadata_set("/private/messagenew", "")
  end

  mbox:free()
end

function dovecot_lua_notify_end_txn(ctx, success)
end
