// The inbound SPF/DKIM/DMARC filter: a MessageFilter for every message from a client that
// is neither trusted nor logged in, with its DNS through Context::resolver on the loop.
#pragma once

#include "postroom/service/context.hpp"
#include "postroom/service/message_filter.hpp"

namespace postroom::service {

// The factory to put in Context::filters. It reads context.config for every message, so a
// reload takes effect for the next one; it returns nullptr when every check is off or the
// client is trusted, authenticated, or on the submission port.
FilterFactory mail_auth_filter_factory(Context& context);

}  // namespace postroom::service
