// The libopendkim calls behind Signer: dkim_sign, dkim_header per field, dkim_eoh,
// dkim_body per chunk, dkim_eom, dkim_getsighdr_d.
#include "postroom/dkim/signer.hpp"

// dkim.h is a C header that uses C99's _Bool in its prototypes; C++'s bool has the same
// representation and calling convention on every ABI GCC supports.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <algorithm>

namespace postroom::dkim {

struct Library::Handle {
  DKIM_LIB* lib = nullptr;
};

struct Signer::Signature {
  DKIM* dkim = nullptr;
  std::string what;  // "d=example.test s=sel" for errors
  ~Signature() {
    if (dkim) dkim_free(dkim);
  }
};

namespace {

// A NULL-terminated array of C strings, as dkim_options wants for header lists.
std::vector<const char*> c_list(const std::vector<std::string>& names) {
  std::vector<const char*> out;
  for (const auto& n : names) out.push_back(n.c_str());
  out.push_back(nullptr);
  return out;
}

std::string status_text(DKIM_STAT status) {
  const char* text = dkim_getresultstr(status);
  return text ? text : "status " + std::to_string(status);
}

// libopendkim's own explanation of the last error on `dkim`, if it kept one.
std::string error_text(DKIM* dkim, DKIM_STAT status) {
  const char* detail = dkim ? dkim_geterror(dkim) : nullptr;
  std::string out = status_text(status);
  if (detail && *detail) out += std::string(": ") + detail;
  return out;
}

}  // namespace

const std::vector<std::string>& signed_fields() {
  static const std::vector<std::string> fields = {"from",
                                                  "sender",
                                                  "reply-to",
                                                  "subject",
                                                  "date",
                                                  "message-id",
                                                  "to",
                                                  "cc",
                                                  "mime-version",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "content-id",
                                                  "content-description",
                                                  "resent-date",
                                                  "resent-from",
                                                  "resent-sender",
                                                  "resent-to",
                                                  "resent-cc",
                                                  "resent-message-id",
                                                  "in-reply-to",
                                                  "references",
                                                  "list-id",
                                                  "list-help",
                                                  "list-unsubscribe",
                                                  "list-subscribe",
                                                  "list-post",
                                                  "list-owner",
                                                  "list-archive",
                                                  "list-unsubscribe-post"};
  return fields;
}

const std::vector<std::string>& oversigned_fields() {
  static const std::vector<std::string> fields = {"from",
                                                  "sender",
                                                  "reply-to",
                                                  "subject",
                                                  "date",
                                                  "message-id",
                                                  "to",
                                                  "cc",
                                                  "mime-version",
                                                  "content-type",
                                                  "content-transfer-encoding",
                                                  "in-reply-to",
                                                  "references",
                                                  "list-unsubscribe",
                                                  "list-unsubscribe-post"};
  return fields;
}

Result<std::shared_ptr<Library>> Library::create(std::optional<std::uint64_t> fixed_time) {
  std::shared_ptr<Library> library(new Library());
  library->handle_ = std::make_unique<Handle>();
  DKIM_LIB* lib = dkim_init(nullptr, nullptr);
  if (!lib) return fail("libopendkim: cannot initialise");
  library->handle_->lib = lib;
  if (!dkim_libfeature(lib, DKIM_FEATURE_ED25519) || !dkim_libfeature(lib, DKIM_FEATURE_OVERSIGN))
    return fail("libopendkim was built without Ed25519 or oversigning");
  // Stored messages have CRLF line ends; FIXCRLF makes a stray bare LF hash as the CRLF a
  // receiver's SMTP layer will see.
  u_int flags = DKIM_LIBFLAGS_FIXCRLF;
  auto sign = c_list(signed_fields());
  auto over = c_list(oversigned_fields());
  // The list options take the array itself and its pointer's size, not the array's.
  if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
      dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, sign.data(), sizeof(char**)) !=
          DKIM_STAT_OK ||
      dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, over.data(), sizeof(char**)) !=
          DKIM_STAT_OK)
    return fail("libopendkim: cannot set the signing options");
  if (fixed_time) {
    std::uint64_t when = *fixed_time;
    if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &when, sizeof when) != DKIM_STAT_OK)
      return fail("libopendkim: cannot fix the signing time");
  }
  return library;
}

Library::~Library() {
  if (handle_ && handle_->lib) dkim_close(handle_->lib);
}

Result<std::unique_ptr<Signer>> Signer::start(std::shared_ptr<Library> library,
                                              const std::vector<SigningKey>& keys,
                                              const HeaderSection& headers, std::string_view id) {
  if (keys.empty()) return fail("no key to sign with");
  std::unique_ptr<Signer> signer(new Signer());
  signer->library_ = std::move(library);
  const std::string job(id);
  for (const auto& key : keys) {
    auto signature = std::make_unique<Signature>();
    signature->what = "d=" + key.domain + " s=" + key.selector;
    // dkim_sign wants a NUL-terminated key; the copy lives only for this call.
    std::string pem(key.pem);
    DKIM_STAT status = DKIM_STAT_OK;
    signature->dkim = dkim_sign(
        signer->library_->handle()->lib, reinterpret_cast<const u_char*>(job.c_str()), nullptr,
        reinterpret_cast<dkim_sigkey_t>(pem.data()),
        reinterpret_cast<const u_char*>(key.selector.c_str()),
        reinterpret_cast<const u_char*>(key.domain.c_str()), DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
        key.algorithm == Algorithm::rsa ? DKIM_SIGN_RSASHA256 : DKIM_SIGN_ED25519SHA256, -1,
        &status);
    std::fill(pem.begin(), pem.end(), '\0');
    if (!signature->dkim) return fail(signature->what + ": " + status_text(status));
    for (const auto& field : headers.fields()) {
      if (field.name.empty()) continue;
      std::string text = field.name + ":" + field.value;
      status = dkim_header(signature->dkim, reinterpret_cast<u_char*>(text.data()), text.size());
      // A field libopendkim finds malformed is left out of the signature, not fatal: it
      // is then unsigned, as a field outside the list would be.
      if (status != DKIM_STAT_OK && status != DKIM_STAT_SYNTAX)
        return fail(signature->what + ": " + error_text(signature->dkim, status));
    }
    status = dkim_eoh(signature->dkim);
    if (status != DKIM_STAT_OK)
      return fail(signature->what + ": " + error_text(signature->dkim, status));
    signer->signatures_.push_back(std::move(signature));
  }
  return signer;
}

Signer::~Signer() = default;

Result<void> Signer::body(std::string_view bytes) {
  if (finished_) return fail("body after the end");
  if (bytes.empty()) return {};
  for (auto& signature : signatures_) {
    // dkim_body does not write to the buffer; its prototype predates const.
    DKIM_STAT status = dkim_body(
        signature->dkim, reinterpret_cast<u_char*>(const_cast<char*>(bytes.data())), bytes.size());
    if (status != DKIM_STAT_OK)
      return fail(signature->what + ": " + error_text(signature->dkim, status));
  }
  return {};
}

Result<std::vector<std::string>> Signer::finish() {
  if (finished_) return fail("finished twice");
  finished_ = true;
  std::vector<std::string> values;
  static constexpr std::size_t kNameLength = sizeof("DKIM-Signature: ") - 1;
  for (auto& signature : signatures_) {
    DKIM_STAT status = dkim_eom(signature->dkim, nullptr);
    if (status != DKIM_STAT_OK)
      return fail(signature->what + ": " + error_text(signature->dkim, status));
    u_char* text = nullptr;
    size_t length = 0;
    status = dkim_getsighdr_d(signature->dkim, kNameLength, &text, &length);
    if (status != DKIM_STAT_OK || !text)
      return fail(signature->what + ": " + error_text(signature->dkim, status));
    // libopendkim folds with a bare LF; a stored message has CRLF line ends throughout.
    std::string value;
    value.reserve(length + 16);
    for (size_t i = 0; i < length; ++i) {
      char c = static_cast<char>(text[i]);
      if (c == '\n' && (i == 0 || text[i - 1] != '\r')) value += '\r';
      value += c;
    }
    values.push_back(std::move(value));
  }
  return values;
}

}  // namespace postroom::dkim
