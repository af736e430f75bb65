// The message filter that passes every SMTP message through the configured milters
// (config `milters`), each over its own connection, all at once; at the end the first milter
// in config order that does not accept decides, and the header changes of the accepting ones
// are applied in config order.
#pragma once

#include "postroom/service/context.hpp"
#include "postroom/service/message_filter.hpp"

namespace postroom::service {

// Reads context.config when each message begins, so a reload applies to the next message.
FilterFactory milter_filter_factory(Context& context);

// Octets of body one milter connection may hold queued (its conversation plus libuv's write
// queue) before the milter counts as too slow and its default action applies: bounds the
// memory a slow milter can make the server hold per message. The connection stops reading
// from the client at 1 MiB of filter backlog already (smtp_connection.cpp), so a milter that
// is merely slower than the client slows the client down instead of reaching this.
constexpr std::size_t kMilterMaxQueued = 4 << 20;

}  // namespace postroom::service
