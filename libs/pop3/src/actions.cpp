// Log-safe one-line descriptions of session actions.
#include "postroom/pop3/actions.hpp"

#include <type_traits>

namespace postroom::pop3 {

std::string describe(const Action& action) {
  return std::visit(
      [](const auto& a) -> std::string {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Send>) {
          return "send " + std::to_string(a.bytes.size()) + " octets";
        } else if constexpr (std::is_same_v<T, StartTls>) {
          return "start-tls";
        } else if constexpr (std::is_same_v<T, Login>) {
          return "login user=" + a.user + " password=<redacted>";
        } else if constexpr (std::is_same_v<T, LoginApop>) {
          return "login-apop user=" + a.user + " digest=<redacted>";
        } else if constexpr (std::is_same_v<T, Retrieve>) {
          std::string text = "retrieve id=" + std::to_string(a.id);
          if (a.top_lines) text += " top=" + std::to_string(*a.top_lines);
          return text;
        } else if constexpr (std::is_same_v<T, Update>) {
          std::string text = "update delete=[";
          for (std::size_t i = 0; i < a.deleted_ids.size(); ++i) {
            if (i > 0) text += ',';
            text += std::to_string(a.deleted_ids[i]);
          }
          return text + "]";
        } else {
          return "close reason=" + a.reason;
        }
      },
      action);
}

}  // namespace postroom::pop3
