// SASL for SMTP AUTH (RFC 4954): the shared base64 and PLAIN helpers of libs/base.
#pragma once

#include "postroom/base/sasl.hpp"

namespace postroom::smtp {

using sasl::base64_decode;
using sasl::base64_encode;
using sasl::parse_plain;
using sasl::PlainCredentials;
using sasl::wipe;

}  // namespace postroom::smtp
